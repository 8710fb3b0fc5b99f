//! For `bench/cold.sh`: starts a server and prints the milliseconds from its start to its
//! first 200 on `PATH`, then stops it with SIGTERM and waits for it to exit.
//! Usage: `first_response PORT PATH COMMAND [ARG...]` (the command listens on 127.0.0.1:PORT).
//!
//! It polls with a raw socket every 200 µs: a poll that starts a process (`curl` from a
//! shell loop) costs milliseconds, which would hide the difference it is meant to show.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const POLL: Duration = Duration::from_micros(200);
const DEADLINE: Duration = Duration::from_secs(20);

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: first_response PORT PATH COMMAND [ARG...]";
    let port: u16 = args.next().context(usage)?.parse().context(usage)?;
    let path = args.next().context(usage)?;
    let program = args.next().context(usage)?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");

    let started = Instant::now();
    let child = Command::new(&program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let mut server = Server(child);
    loop {
        if let Some(status) = server.0.try_wait()? {
            bail!("{program} exited before it answered: {status}");
        }
        let Some(left) = DEADLINE.checked_sub(started.elapsed()) else {
            bail!("{program} did not answer 200 on {path} within {DEADLINE:?}");
        };
        if let Ok(true) = answers_200(address, &request, left) {
            let elapsed = started.elapsed();
            drop(server);
            println!("{:.3}", elapsed.as_secs_f64() * 1000.0);
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// The server, stopped with SIGTERM and waited for however this program ends, so that no run
/// leaves one listening.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill(2) on a child this process started and has not yet waited for, so
            // its pid cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        } else {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Whether the server at `address` answers `request` with a 200 within `left`; an error while
/// it is not yet listening.
fn answers_200(address: SocketAddr, request: &str, left: Duration) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(left.max(POLL)))?;
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(&head[..] == b"HTTP/1.1 200")
}
