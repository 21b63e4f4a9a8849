//! Security flags, named after libzmq's options. NULL is the default.

use clap::Args;
use zmtp::SocketOptions;

use crate::common::Failure;

/// Security and authentication options.
#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// ZMQ_ZAP_DOMAIN: ask the authentication handler about every peer, in this domain.
    #[arg(long, value_name = "DOMAIN")]
    pub zap_domain: Option<String>,
}

impl SecurityArgs {
    /// Applies the flags to socket options.
    pub fn apply(&self, options: &mut SocketOptions) -> Result<(), Failure> {
        if let Some(d) = &self.zap_domain {
            options.zap_domain = Some(d.clone());
        }
        Ok(())
    }
}
