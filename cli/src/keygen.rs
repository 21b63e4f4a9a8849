//! `zmtp keygen`: CURVE keypairs in Z85.

use clap::Args;
use zmtp::mechanisms::{CurveKeyPair, CurveSecretKey};

use crate::common::Failure;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    zmtp keygen\n  \
    zmtp keygen --json\n  \
    zmtp keygen --public-from 'D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs'")]
pub struct KeygenArgs {
    /// Print {"public": "...", "secret": "..."}.
    #[arg(long)]
    pub json: bool,
    /// Print the public key of this Z85 secret key instead of generating a pair.
    #[arg(long, value_name = "SECRET")]
    pub public_from: Option<String>,
}

pub fn run(args: KeygenArgs) -> Result<(), Failure> {
    if let Some(secret) = &args.public_from {
        let secret = CurveSecretKey::from_z85(secret.trim())
            .map_err(|e| Failure::usage(format!("--public-from: {e}")))?;
        let public = secret.public_key().to_z85();
        if args.json {
            println!("{}", serde_json::json!({ "public": public }));
        } else {
            println!("public: {public}");
        }
        return Ok(());
    }
    let pair = CurveKeyPair::generate().map_err(|e| Failure::other(e.to_string()))?;
    let public = pair.public.to_z85();
    let secret = pair.secret.to_z85();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "public": public, "secret": secret.as_str() })
        );
    } else {
        println!("public: {public}");
        println!("secret: {}", secret.as_str());
    }
    Ok(())
}
