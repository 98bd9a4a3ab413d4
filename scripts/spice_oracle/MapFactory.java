// Stand-in for CoreNLP's edu.stanford.nlp.util.MapFactory: SceneGraph only asks it for
// hashMapFactory(), which it hands to the DirectedMultiGraph stand-in (which ignores it).
package edu.stanford.nlp.util;

public class MapFactory<K, V> implements java.io.Serializable {
	private static final long serialVersionUID = 1L;

	public static <K, V> MapFactory<K, V> hashMapFactory() {
		return new MapFactory<K, V>();
	}
}
