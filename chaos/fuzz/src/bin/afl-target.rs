//! AFL++ entry point: `afl-target NAME` runs the fuzz target NAME (see the
//! crate docs) on every input AFL++ hands it. Built by `chaos/fuzz.sh`.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = signpost_fuzz::target(&name) else {
        let names: Vec<_> = signpost_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: afl-target NAME, where NAME is one of {names:?}");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}
