//! Prints what the Rust PTB lexer makes of a file (one output line per input line), the same
//! way `PTBTokenizer -preserveLines -lowerCase FILE` prints it. Used to diff against the jar.
fn main() {
    let path = std::env::args().nth(1).expect("usage: ptb_probe FILE");
    let text = std::fs::read_to_string(path).expect("read");
    let lines = covip_eval::metrics::ptb::PtbTokenizer::global().tokenize_lines(&text);
    print!("{}", lines.join("\n"));
}
