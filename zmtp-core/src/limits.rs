//! Limits on what a peer may make us hold. Every peer-supplied length is checked against one of
//! these before anything is reserved or allocated.

/// Configurable bounds on peer-supplied sizes. `None` means unbounded where that is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body of one data frame (`ZMQ_MAXMSGSIZE` bounds whole messages in libzmq; we
    /// bound both). Default: 256 MiB.
    pub max_frame_size: u64,
    /// Largest multipart message, summed over its parts. Default: 256 MiB.
    pub max_message_size: u64,
    /// Most parts in one message. Default: 4096.
    pub max_message_parts: usize,
    /// Largest command body (handshake commands, PING, SUBSCRIBE…). Default: 64 KiB.
    pub max_command_size: u64,
    /// Most properties in one metadata block. Default: 64.
    pub max_properties: usize,
    /// Most distinct topics one peer may subscribe to on a PUB/XPUB socket (libzmq has no
    /// bound). A SUBSCRIBE beyond it closes the connection. Default: 16,384.
    pub max_subscriptions: usize,
    /// Most octets, summed over its topics, one peer may subscribe to. Default: 4 MiB.
    pub max_subscription_octets: u64,
    /// Most octets of idle large-body buffers a socket keeps for reuse, shared by all its
    /// connections: bodies of `wire::frame::POOL_AT` octets and more are received into buffers
    /// of their own, which come back when the application drops the messages they carried, and
    /// CURVE seals such bodies into buffers that come back once written. 0 keeps none.
    /// Default: 8 MiB.
    pub buffer_pool: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 256 << 20,
            max_message_size: 256 << 20,
            max_message_parts: 4096,
            max_command_size: 64 << 10,
            max_properties: 64,
            max_subscriptions: 16 * 1024,
            max_subscription_octets: 4 << 20,
            buffer_pool: 8 << 20,
        }
    }
}
