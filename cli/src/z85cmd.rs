//! `zmtp z85 encode|decode`: standard input to standard output.

use std::io::{Read, Write};

use clap::{Args, Subcommand};

use crate::common::Failure;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    printf '\\206\\117\\322\\157\\265\\131\\367\\133' | zmtp z85 encode      # HelloWorld\n  \
    echo HelloWorld | zmtp z85 decode | od -An -tx1\n\n\
    encode reads raw bytes (a multiple of 4) and prints the text with a newline; decode reads \
    text (a multiple of 5 characters; surrounding whitespace is ignored) and writes raw bytes. \
    A bad length or character exits with status 2.")]
pub struct Z85Args {
    #[command(subcommand)]
    pub direction: Direction,
}

#[derive(Subcommand, Debug)]
pub enum Direction {
    /// Raw bytes on stdin to Z85 text on stdout.
    Encode,
    /// Z85 text on stdin to raw bytes on stdout.
    Decode,
}

pub fn run(args: Z85Args) -> Result<(), Failure> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| Failure::other(format!("reading stdin: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    let written = match args.direction {
        Direction::Encode => {
            let text = z85_codec::encode(&input).map_err(|e| Failure::usage(e.to_string()))?;
            writeln!(stdout, "{text}")
        }
        Direction::Decode => {
            let text = std::str::from_utf8(&input)
                .map_err(|_| Failure::usage("input is not text"))?
                .trim();
            let bytes = z85_codec::decode(text).map_err(|e| Failure::usage(e.to_string()))?;
            stdout.write_all(&bytes)
        }
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::other(format!("writing stdout: {e}")))
}
