//! `zmtp send` and `zmtp recv`: netcat for ZMTP.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use tokio::sync::mpsc;
use zmtp::{Message, Socket, SocketType};

use crate::common::{event_json, frame_json, frame_text, refusal, Failure, SocketArgs};
use crate::group::GroupArgs;
use crate::security::SecurityArgs;

/// How long `send` lets queued messages drain before exiting.
const SEND_LINGER: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    zmtp recv --bind tcp://127.0.0.1:5555 --type PULL --count 3 &\n  \
    zmtp send --connect tcp://127.0.0.1:5555 --type PUSH hello world\n  \
    printf 'a\\nb\\n' | zmtp send --connect tcp://127.0.0.1:5555 --type PUSH\n  \
    zmtp send --bind tcp://127.0.0.1:5556 --type PUB weather sunny\n  \
    zmtp send --connect tcp://127.0.0.1:5557 --type REQ hello\n  \
    zmtp send --connect tcp://127.0.0.1:5558 --type PUSH --plain-username admin --plain-password secret hello\n  \
    zmtp send --connect tcp://127.0.0.1:5559 --type PUSH --curve-serverkey 'SERVER_Z85' \
    --curve-cert client_secret hello\n\n\
    The last four talk to the servers in zmtp recv --help. A PUB waits for a subscriber to its first \
    message's topic before sending; REQ prints the reply. Z85 keys hold characters the shell reads: quote them.\n\n\
    With --group (PUB/XPUB), each message is sealed once with the group's key and signed with \
    --signing-key, and the same ciphertext goes to every subscriber: the publisher joins the \
    coordinator as a member (its --member-key admitted there, its verifying key listed with \
    --publisher) and follows its keys. Every frame is sealed; only --topic travels in the clear. \
    The coordinator runs apart (zmtp coordinator --help has the whole example), e.g.: zmtp send \
    --bind tcp://127.0.0.1:5556 --type PUB --group tcp://127.0.0.1:5560 --coordinator-key coord \
    --member-key pub_secret --signing-key signer_secret --topic weather sunny")]
pub struct SendArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    /// The publisher's Ed25519 signing key, as 64 hex digits or a secret key file (zmtp keygen
    /// --ed25519 --cert NAME writes NAME_secret).
    #[arg(long, value_name = "HEX|FILE", value_parser = |s: &str| crate::group::signing_key(s).map(Box::new),
          requires = "group", help_heading = "Group keys")]
    pub signing_key: Option<Box<zmtp_group::SigningKey>>,
    /// The topic every message is published under, in the clear (subscribers filter on it);
    /// default empty. Hex with --hex.
    #[arg(
        long,
        value_name = "TOPIC",
        requires = "group",
        help_heading = "Group keys"
    )]
    pub topic: Option<String>,
    /// Send the message this many times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u64,
    /// FRAME arguments are hex.
    #[arg(long)]
    pub hex: bool,
    /// The frames of one multipart message. Without any, each stdin line is a one-frame message.
    #[arg(value_name = "FRAME")]
    pub frames: Vec<String>,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    zmtp recv --bind tcp://127.0.0.1:5555 --type PULL --count 1\n  \
    zmtp recv --connect tcp://127.0.0.1:5556 --type SUB --subscribe weather --json\n  \
    zmtp recv --bind tcp://127.0.0.1:5557 --type REP --reply ok\n  \
    zmtp recv --bind tcp://127.0.0.1:5558 --type PULL --json --plain-server --passwords users.txt\n  \
    zmtp recv --bind tcp://127.0.0.1:5559 --type PULL --json --curve-server --curve-cert server_secret \
    --curve-certs clients/\n\n\
    users.txt holds user=password lines; server_secret and the public certificates in clients/ \
    come from zmtp keygen --cert.\n\n\
    Each message prints on one line, frames separated by a space; a frame that is not printable \
    UTF-8 prints as 0x followed by hex. --json prints one object a line: \
    {\"frames\": [...], \"properties\": {...}}.\n\n\
    With --group (SUB), messages are opened with the group's keys, which the coordinator gives \
    this member (--member-key) if it admits it; the topic prints first unless empty, and --json \
    prints {\"topic\": ..., \"frames\": [...], \"sealed\": {\"epoch\": ..., \"signer\": ...}}. \
    A message that does not open (no key, not signed by a publisher of the group, replayed, \
    altered) is reported on stderr and skipped. E.g.: zmtp recv --connect tcp://127.0.0.1:5556 \
    --type SUB --group tcp://127.0.0.1:5560 --coordinator-key coord --member-key sub_secret")]
pub struct RecvArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    /// Stop after N messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print one JSON object per message.
    #[arg(long)]
    pub json: bool,
    /// SUB/XSUB: subscribe to PREFIX (repeatable; default: everything).
    #[arg(long, value_name = "PREFIX")]
    pub subscribe: Vec<String>,
    /// REP: answer every request with TEXT instead of echoing it.
    #[arg(long, value_name = "TEXT")]
    pub reply: Option<String>,
}

/// Starts the socket's monitor: prints events when asked, and reports refusals on the channel.
/// Only a connection we made can be refused: a failed handshake on a bound endpoint is a peer
/// that broke the protocol or that we turned away (an HTTP request, a wrong key), and the
/// server goes on serving the others. A socket that authenticates its peers (a PLAIN or CURVE
/// server, or one with a ZAP handler) is never "refused" either. The task ends once the
/// socket's monitor stops (after its linger, for a dropped socket).
fn watch(
    socket: &Socket,
    print: bool,
    authenticates: bool,
    connects: Vec<String>,
) -> (mpsc::Receiver<String>, tokio::task::JoinHandle<()>) {
    let mut events = socket.monitor(1024);
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if print {
                eprintln!("{}", event_json(&ev));
            }
            if authenticates || !connects.contains(&ev.endpoint) {
                continue;
            }
            if let Some(reason) = refusal(&ev) {
                let _ = tx.try_send(reason);
            }
        }
    });
    (rx, task)
}

async fn build(
    socket: &SocketArgs,
    security: &SecurityArgs,
) -> Result<(Arc<Socket>, mpsc::Receiver<String>), Failure> {
    let (s, refusals, _) = build_with(socket, security, Duration::ZERO).await?;
    Ok((s, refusals))
}

/// [`build`] with a linger for the dropped socket, and the monitor task that ends after it.
async fn build_with(
    socket: &SocketArgs,
    security: &SecurityArgs,
    linger: Duration,
) -> Result<
    (
        Arc<Socket>,
        mpsc::Receiver<String>,
        tokio::task::JoinHandle<()>,
    ),
    Failure,
> {
    let mut options = socket.options()?;
    options.linger = linger;
    security.apply(&mut options).await?;
    let authenticates =
        options.authenticator.is_some() || security.curve_server || security.plain_server;
    let s = Arc::new(Socket::with_options(socket.socket_type, options));
    let (refusals, monitor) = watch(&s, socket.monitor, authenticates, socket.connect.clone());
    socket.attach(&s).await?;
    Ok((s, refusals, monitor))
}

fn decode_frame(text: &str, hex_mode: bool) -> Result<Bytes, Failure> {
    if hex_mode {
        hex::decode(text)
            .map(Bytes::from)
            .map_err(|e| Failure::usage(format!("frame {text:?} is not hex: {e}")))
    } else {
        Ok(Bytes::copy_from_slice(text.as_bytes()))
    }
}

pub async fn send(args: SendArgs) -> Result<(), Failure> {
    let mut messages: Vec<Vec<Bytes>> = Vec::new();
    if args.frames.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| Failure::other(format!("reading stdin: {e}")))?;
            messages.push(vec![decode_frame(&line, args.hex)?]);
        }
    } else {
        messages.push(
            args.frames
                .iter()
                .map(|f| decode_frame(f, args.hex))
                .collect::<Result<_, _>>()?,
        );
    }
    if matches!(args.socket.socket_type, SocketType::Pull | SocketType::Sub) {
        return Err(Failure::usage(format!(
            "{} sockets cannot send",
            args.socket.socket_type
        )));
    }
    if args.group.group.is_some() {
        return send_group(args, messages).await;
    }
    let (socket, mut refusals) = build(&args.socket, &args.security).await?;
    let wait = args
        .socket
        .timeout()
        .unwrap_or(Duration::from_secs(3600 * 24));
    // A publisher waits for a subscription, not only a connection: a subscriber's SUBSCRIBE
    // follows its handshake, and what is published before it arrives is dropped. It waits for
    // one that the first message's topic (its first frame) matches; later messages with other
    // topics go to whoever subscribed to them, as on any PUB socket.
    let publisher = matches!(args.socket.socket_type, SocketType::Pub | SocketType::Xpub);
    let topic = messages
        .first()
        .and_then(|m| m.first())
        .cloned()
        .unwrap_or_default();
    let ready = async {
        if messages.is_empty() {
            Ok(()) // nothing to send (empty stdin): nothing to wait for
        } else if publisher {
            socket.wait_for_subscribers(1, &topic, wait).await
        } else {
            socket.wait_for_peers(1, wait).await
        }
    };
    tokio::select! {
        r = ready => r.map_err(|_| Failure::timeout(if publisher {
            "no subscriber to the first message's topic in time"
        } else {
            "no peer connected in time"
        }))?,
        Some(reason) = refusals.recv() => return Err(Failure::refused(reason)),
    }
    let is_req = args.socket.socket_type == SocketType::Req;
    for _ in 0..args.count {
        for parts in &messages {
            socket
                .send(parts.clone())
                .await
                .map_err(|e| Failure::other(format!("send failed: {e}")))?;
            if is_req {
                let reply =
                    recv_with_timeout(&socket, args.socket.timeout(), &mut refusals).await?;
                println!("{}", line_of(&reply));
            }
        }
    }
    let socket = Arc::try_unwrap(socket).map_err(|_| Failure::other("socket still shared"))?;
    socket.close(SEND_LINGER).await;
    Ok(())
}

async fn recv_with_timeout(
    socket: &Socket,
    timeout: Option<Duration>,
    refusals: &mut mpsc::Receiver<String>,
) -> Result<Message, Failure> {
    let wait = timeout.unwrap_or(Duration::from_secs(3600 * 24 * 365));
    tokio::select! {
        r = tokio::time::timeout(wait, socket.recv()) => match r {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(Failure::other(format!("receive failed: {e}"))),
            Err(_) => Err(Failure::timeout(format!("nothing received for {} ms", wait.as_millis()))),
        },
        Some(reason) = refusals.recv() => Err(Failure::refused(reason)),
    }
}

fn line_of(message: &Message) -> String {
    message
        .parts()
        .iter()
        .map(|p| frame_text(p))
        .collect::<Vec<_>>()
        .join(" ")
}

fn json_of(message: &Message) -> String {
    let mut props = serde_json::Map::new();
    if let Some(meta) = message.properties() {
        for p in meta.iter() {
            // The first value for a name is the one that counts.
            props.entry(p.name.clone()).or_insert_with(|| {
                serde_json::Value::String(String::from_utf8_lossy(&p.value).into_owned())
            });
        }
    }
    serde_json::json!({
        "frames": message.parts().iter().map(|p| frame_json(p)).collect::<Vec<_>>(),
        "properties": props,
    })
    .to_string()
}

pub async fn recv(args: RecvArgs) -> Result<(), Failure> {
    let st = args.socket.socket_type;
    if matches!(st, SocketType::Push | SocketType::Pub) {
        return Err(Failure::usage(format!("{st} sockets cannot receive")));
    }
    if !args.subscribe.is_empty() && !matches!(st, SocketType::Sub | SocketType::Xsub) {
        return Err(Failure::usage("--subscribe is for SUB and XSUB sockets"));
    }
    if args.group.group.is_some() {
        return recv_group(args).await;
    }
    let (socket, mut refusals) = build(&args.socket, &args.security).await?;
    if matches!(st, SocketType::Sub | SocketType::Xsub) {
        let topics = if args.subscribe.is_empty() {
            vec![String::new()]
        } else {
            args.subscribe.clone()
        };
        for t in topics {
            if st == SocketType::Sub {
                socket
                    .subscribe(Bytes::from(t.into_bytes()))
                    .map_err(|e| Failure::other(e.to_string()))?;
            } else {
                let mut body = vec![1u8];
                body.extend_from_slice(t.as_bytes());
                socket
                    .send(Bytes::from(body))
                    .await
                    .map_err(|e| Failure::other(e.to_string()))?;
            }
        }
    }
    let mut received = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let msg = recv_with_timeout(&socket, args.socket.timeout(), &mut refusals).await?;
        received += 1;
        if args.json {
            println!("{}", json_of(&msg));
        } else {
            println!("{}", line_of(&msg));
        }
        if st == SocketType::Rep {
            let reply: Message = match &args.reply {
                Some(text) => text.as_str().into(),
                None => Message::new(msg.parts().to_vec()),
            };
            socket
                .send(reply)
                .await
                .map_err(|e| Failure::other(format!("reply failed: {e}")))?;
        }
    }
    if let Ok(socket) = Arc::try_unwrap(socket) {
        socket.close(SEND_LINGER).await;
    }
    Ok(())
}

/// `send --group`: joins the group as a member, then seals and signs each message once.
async fn send_group(args: SendArgs, messages: Vec<Vec<Bytes>>) -> Result<(), Failure> {
    if !matches!(args.socket.socket_type, SocketType::Pub | SocketType::Xpub) {
        return Err(Failure::usage("--group publishes on PUB or XPUB sockets"));
    }
    let signer = args.signing_key.clone().ok_or_else(|| {
        Failure::usage("--group needs --signing-key (zmtp keygen --ed25519 makes one)")
    })?;
    let topic = match &args.topic {
        Some(t) => decode_frame(t, args.hex)?,
        None => Bytes::new(),
    };
    args.socket.options()?; // the socket's flags are checked before anything connects
    let key_wait = args.socket.timeout().unwrap_or(crate::group::KEY_WAIT);
    let member = args.group.join(key_wait).await.map_err(|(f, _)| f)?;
    let (socket, mut refusals, monitor) =
        build_with(&args.socket, &args.security, SEND_LINGER).await?;
    let wait = args
        .socket
        .timeout()
        .unwrap_or(Duration::from_secs(3600 * 24));
    if !messages.is_empty() {
        tokio::select! {
            r = socket.wait_for_subscribers(1, &topic, wait) => r.map_err(|_| {
                Failure::timeout("no subscriber to the topic in time")
            })?,
            Some(reason) = refusals.recv() => return Err(Failure::refused(reason)),
        }
    }
    let socket = Arc::try_unwrap(socket).map_err(|_| Failure::other("socket still shared"))?;
    let publisher = zmtp_group::GroupPublisher::new(
        socket,
        member.keys(),
        Some(*signer),
        zmtp_group::Limits::default(),
    );
    for _ in 0..args.count {
        for parts in &messages {
            publisher
                .publish(&topic, parts)
                .await
                .map_err(|e| Failure::other(format!("publish failed: {e}")))?;
        }
    }
    // Dropped with a linger, the socket goes on writing what is queued; its monitor stops once
    // that is done.
    drop(publisher);
    let _ = tokio::time::timeout(SEND_LINGER + Duration::from_secs(1), monitor).await;
    drop(member);
    Ok(())
}

/// `recv --group`: opens each message with the member's keys; refused ones go to stderr.
async fn recv_group(args: RecvArgs) -> Result<(), Failure> {
    if args.socket.socket_type != SocketType::Sub {
        return Err(Failure::usage("--group receives on SUB sockets"));
    }
    args.socket.options()?;
    let key_wait = args.socket.timeout().unwrap_or(crate::group::KEY_WAIT);
    let member = match args.group.join(key_wait).await {
        Ok(member) => member,
        Err((failure, Some(member))) => {
            // Not fatal: the key may still come; until then messages are refused.
            eprintln!("zmtp: warning: {}", failure.reason);
            member
        }
        Err((failure, None)) => return Err(failure),
    };
    let (socket, mut refusals) = build(&args.socket, &args.security).await?;
    let topics = if args.subscribe.is_empty() {
        vec![String::new()]
    } else {
        args.subscribe.clone()
    };
    for t in topics {
        socket
            .subscribe(Bytes::from(t.into_bytes()))
            .map_err(|e| Failure::other(e.to_string()))?;
    }
    let socket = Arc::try_unwrap(socket).map_err(|_| Failure::other("socket still shared"))?;
    let subscriber = zmtp_group::GroupSubscriber::new(socket, member);
    let wait = args
        .socket
        .timeout()
        .unwrap_or(Duration::from_secs(3600 * 24 * 365));
    let mut received = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let opened = tokio::select! {
            r = tokio::time::timeout(wait, subscriber.recv()) => match r {
                Ok(r) => r,
                Err(_) => return Err(Failure::timeout(format!(
                    "nothing received for {} ms", wait.as_millis()
                ))),
            },
            Some(reason) = refusals.recv() => return Err(Failure::refused(reason)),
        };
        match opened {
            Ok(opened) => {
                received += 1;
                if args.json {
                    println!("{}", crate::group::opened_json(&opened));
                } else {
                    println!("{}", crate::group::opened_line(&opened));
                }
            }
            Err(e @ (zmtp_group::GroupError::Socket(_) | zmtp_group::GroupError::Closed)) => {
                return Err(Failure::other(format!("receive failed: {e}")))
            }
            Err(e) => eprintln!("zmtp: refused: {e}"),
        }
    }
    Ok(())
}
