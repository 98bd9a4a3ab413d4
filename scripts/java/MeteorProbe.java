// Asks meteor-1.5.jar (on the class path) what it sees, one stdin line per answer line:
//   norm   each line -> Normalizer.normalizeLine(line, English, keep punctuation).toLowerCase()
//          (what `-norm` makes of a segment before aligning it)
//   stem   each word -> the English Snowball stem the stem module uses
// Used by scripts/metrics_meteor_fixture.py; compiled against the jar at run time.
import edu.cmu.meteor.aligner.SnowballStemmerWrapper;
import edu.cmu.meteor.util.Constants;
import edu.cmu.meteor.util.Normalizer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import org.tartarus.snowball.ext.englishStemmer;

public class MeteorProbe {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, "UTF-8"));
        SnowballStemmerWrapper stemmer = new SnowballStemmerWrapper(new englishStemmer());
        String line;
        while ((line = in.readLine()) != null) {
            if (args[0].equals("norm"))
                out.println(Normalizer.normalizeLine(line, Constants.LANG_EN, true).toLowerCase());
            else
                out.println(stemmer.stem(line));
        }
        out.flush();
    }
}
