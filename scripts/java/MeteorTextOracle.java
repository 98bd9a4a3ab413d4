// Oracle for covip's METEOR text-processing parity fixtures (scripts/meteor_text_fixture.py).
// Compiled and run against pycocoevalcap 1.2's meteor-1.5.jar:
//
//   javac -cp meteor-1.5.jar -d OUT MeteorTextOracle.java
//   java -cp meteor-1.5.jar:OUT MeteorTextOracle stem|norm < items > results
//
// Every input line is one item, Base64 of its UTF-8 bytes (so items may hold any character).
// Every output line holds tab-separated Base64 fields:
//   stem: the stem, via METEOR's own SnowballStemmerWrapper around englishStemmer;
//   norm: what MeteorScorer hands the aligner under `-l en -norm` (Normalizer.normalizeLine with
//         LANG_EN, then String.toLowerCase()), with keepPunctuation true and then false.
import edu.cmu.meteor.aligner.SnowballStemmerWrapper;
import edu.cmu.meteor.util.Constants;
import edu.cmu.meteor.util.Normalizer;
import org.tartarus.snowball.ext.englishStemmer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

public class MeteorTextOracle {
    private static String dec(String b64) {
        return new String(Base64.getDecoder().decode(b64.trim()), StandardCharsets.UTF_8);
    }

    private static String enc(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 || !(args[0].equals("stem") || args[0].equals("norm"))) {
            System.err.println("usage: MeteorTextOracle stem|norm < base64-lines");
            System.exit(2);
        }
        boolean stem = args[0].equals("stem");
        SnowballStemmerWrapper stemmer = new SnowballStemmerWrapper(new englishStemmer());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(System.out, false, "US-ASCII");
        String line;
        while ((line = in.readLine()) != null) {
            String item = dec(line);
            if (stem) {
                out.println(enc(stemmer.stem(item)));
            } else {
                String keep = Normalizer.normalizeLine(item, Constants.LANG_EN, true).toLowerCase();
                String strip = Normalizer.normalizeLine(item, Constants.LANG_EN, false).toLowerCase();
                out.println(enc(keep) + "\t" + enc(strip));
            }
        }
        out.flush();
    }
}
