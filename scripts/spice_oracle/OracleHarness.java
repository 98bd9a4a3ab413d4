// Scores hand-written scene-graph tuples with SPICE 1.0's own classes (SceneGraph, TupleSet,
// Evaluation, SpiceStats from spice-1.0.jar, METEOR's SynonymDictionary from Meteor-1.5.jar),
// bypassing only the Stanford CoreNLP parser, and prints SpiceStats.toJSONString() as
// `-detailed -subset` would write it (before the jar's pretty-printing).
//
// Input: a JSON array of {"image_id": ..., "test": [TUPLE...], "refs": [[TUPLE...]...],
// optional "synsets": false}, TUPLE = [object] | [object, attribute] |
// [subject, relation, object]. Tuples are added in order with addObject / addAttribute /
// addRelation; all reference captions go into one scene graph, as SpiceParser does.
package edu.anu.spice;

import java.io.FileReader;
import java.net.URL;
import java.util.HashMap;
import java.util.Map;

import org.json.simple.JSONArray;
import org.json.simple.JSONObject;
import org.json.simple.parser.JSONParser;

import edu.cmu.meteor.aligner.SynonymDictionary;
import edu.cmu.meteor.util.Constants;

public class OracleHarness {
	static void add(SceneGraph sg, JSONArray tuple) {
		if (tuple.size() == 1) {
			sg.addObject((String) tuple.get(0));
		} else if (tuple.size() == 2) {
			sg.addAttribute((String) tuple.get(0), (String) tuple.get(1));
		} else if (tuple.size() == 3) {
			sg.addRelation((String) tuple.get(0), (String) tuple.get(2), (String) tuple.get(1));
		} else {
			throw new IllegalArgumentException("tuple of size " + tuple.size());
		}
	}

	public static void main(String[] args) throws Exception {
		URL synDirURL = Constants.DEFAULT_SYN_DIR_URL;
		SynonymDictionary synonyms = new SynonymDictionary(new URL(synDirURL.toString() + "/english.exceptions"),
				new URL(synDirURL.toString() + "/english.synsets"),
				new URL(synDirURL.toString() + "/english.relations"));
		// As SpiceScorer.scoreBatch builds them with -subset.
		Map<String, TupleFilter> filters = new HashMap<String, TupleFilter>();
		filters.put("Object", TupleFilter.objectFilter);
		filters.put("Attribute", TupleFilter.attributeFilter);
		filters.put("Relation", TupleFilter.relationFilter);
		filters.put("Cardinality", TupleFilter.cardinalityFilter);
		filters.put("Color", TupleFilter.colorFilter);
		filters.put("Size", TupleFilter.sizeFilter);
		SpiceStats stats = new SpiceStats(filters, true);
		JSONArray cases = (JSONArray) new JSONParser().parse(new FileReader(args[0]));
		for (Object o : cases) {
			JSONObject c = (JSONObject) o;
			boolean useSynsets = !Boolean.FALSE.equals(c.get("synsets"));
			SceneGraph test = new SceneGraph(synonyms, useSynsets);
			for (Object t : (JSONArray) c.get("test")) {
				add(test, (JSONArray) t);
			}
			SceneGraph ref = new SceneGraph(synonyms, useSynsets);
			for (Object caption : (JSONArray) c.get("refs")) {
				for (Object t : (JSONArray) caption) {
					add(ref, (JSONArray) t);
				}
			}
			stats.score(c.get("image_id"), test, ref, useSynsets);
		}
		System.out.println(stats.toJSONString());
	}
}
