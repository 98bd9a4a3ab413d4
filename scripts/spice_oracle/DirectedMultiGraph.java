// Stand-in for CoreNLP's edu.stanford.nlp.graph.DirectedMultiGraph with the four methods
// SPICE's SceneGraph calls. Vertices and edges are kept in insertion order: the real class
// iterates hash maps keyed by identity hash codes, so its order differs from run to run; the
// Rust scorer uses insertion order, and so does this oracle.
package edu.stanford.nlp.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import edu.stanford.nlp.util.MapFactory;

public class DirectedMultiGraph<V, E> implements java.io.Serializable {
	private static final long serialVersionUID = 1L;
	private final LinkedHashSet<V> vertices = new LinkedHashSet<V>();
	private final ArrayList<E> edges = new ArrayList<E>();

	public DirectedMultiGraph(MapFactory<V, Map<V, List<E>>> outer, MapFactory<V, List<E>> inner) {
	}

	public boolean addVertex(V v) {
		return vertices.add(v);
	}

	public void add(V source, V target, E edge) {
		vertices.add(source);
		vertices.add(target);
		edges.add(edge);
	}

	public List<E> getAllEdges() {
		return new ArrayList<E>(edges);
	}

	public Set<V> getAllVertices() {
		return Collections.unmodifiableSet(vertices);
	}
}
