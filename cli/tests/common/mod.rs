//! Shared by the tests that spawn the `zmtp` binary.

#![allow(dead_code)] // each test file uses its own subset

/// The binary under test.
pub const ZMTP: &str = env!("CARGO_BIN_EXE_zmtp");

/// The binary as a command, with the secrets it reads from the environment removed, so the
/// caller's shell cannot change what a test sees.
pub fn zmtp_command() -> std::process::Command {
    let mut c = std::process::Command::new(ZMTP);
    c.env_remove("ZMTP_CURVE_SECRETKEY")
        .env_remove("ZMTP_PLAIN_PASSWORD");
    c
}

// The zmq_curve(7) man-page keypairs (../shared/vectors/keys.txt).
pub const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
pub const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
pub const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
pub const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
