//! The floor of `benches/external.rs`: a child that echoes each line of its stdin to its
//! stdout, flushing after each line — the least a line-framed protocol peer must do (read up
//! to a newline, write a line, flush) with no parsing and no task hops.

use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        out.write_all(&line)?;
        // Flush per line, as a peer must: the next line may only come after this answer.
        // (A `StdoutLock` is line-buffered already; the flush makes it explicit.)
        out.flush()?;
    }
}
