// Memory per idle TCP connection in tokio (current_thread), the peer of bench/memconn_uv.c and
// bench/memconn_duet.cpp: N (10,000) connected pairs on 127.0.0.1; every end is a spawned task
// waiting for its stream to become readable (no read buffer held). The listening process
// (server ends) starts itself again as the client (connecting ends), because 2 x N sockets
// exceed the fd hard limit of one process; each measures its RSS before and after its N
// connections. Prints one JSON line.
// usage: memconn_tokio [N=10000]      (the child: memconn_tokio --client PORT N)
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn rss_bytes() -> i64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let resident: i64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    resident * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64
}

fn raise_nofile() {
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
}

// An idle end: waits until readable, reads what came (nothing does), until EOF.
async fn idle(s: tokio::net::TcpStream) {
    loop {
        if s.readable().await.is_err() {
            return;
        }
        let mut b = [0u8; 64];
        match s.try_read(&mut b) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn client(port: u16, n: usize) {
    let rt = runtime();
    rt.block_on(async move {
        let before = rss_bytes();
        // 128 connects in flight at a time, as the other programs.
        let mut left = n;
        while left > 0 {
            let k = left.min(128);
            let mut pending = Vec::with_capacity(k);
            for _ in 0..k {
                pending.push(tokio::spawn(tokio::net::TcpStream::connect(("127.0.0.1", port))));
            }
            for p in pending {
                let s = p.await.unwrap().expect("connect");
                tokio::spawn(idle(s));
            }
            left -= k;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // every idle task polled once
        let after = rss_bytes();
        println!("{} {}", before, after);
        std::io::stdout().flush().unwrap();
        // Hold the connections until the server has measured (it closes our stdin then).
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    });
}

fn main() {
    raise_nofile();
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 3 && args[1] == "--client" {
        client(args[2].parse().unwrap(), args[3].parse().unwrap());
        return;
    }
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(10000);
    let rt = runtime();
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let before = rss_bytes();
        let mut child = Command::new("/proc/self/exe")
            .args(["--client", &port.to_string(), &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning the client");
        for _ in 0..n {
            let (s, _) = l.accept().await.expect("accept");
            tokio::spawn(idle(s));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = rss_bytes();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: Vec<i64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
        drop(child.stdin.take());
        child.wait().unwrap();
        let sb = (after - before) as f64 / n as f64;
        let cb = (v[1] - v[0]) as f64 / n as f64;
        println!(
            "{{\"peer\": \"tokio\", \"bench\": \"memconn\", \"n\": {}, \"server_rss_before\": {}, \
             \"server_rss_after\": {}, \"client_rss_before\": {}, \"client_rss_after\": {}, \
             \"server_bytes_per_conn\": {:.1}, \"client_bytes_per_conn\": {:.1}, \"bytes_per_pair\": {:.1}}}",
            n, before, after, v[0], v[1], sb, cb, sb + cb
        );
    });
}
