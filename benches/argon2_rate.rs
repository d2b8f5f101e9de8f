#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Raw Argon2id verification rate with the service's parameters, on every core: the ceiling
//! for password logins per second. `cargo bench --bench argon2_rate [-- SECONDS]`.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

fn main() {
    let seconds: u64 = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(5);
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let params = argon2::Params::new(19_456, 2, 1, None).unwrap();
    let argon = Arc::new(Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params));
    let hash: Arc<str> = argon.hash_password(b"correct horse battery staple").unwrap().to_string().into();
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon, hash, done, count) = (argon.clone(), hash.clone(), done.clone(), count.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    assert!(argon.verify_password(b"correct horse battery staple", &*hash).is_ok());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let rate = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("argon2id m=19456 t=2 p=1 threads={threads}: {rate:.1} verifications/s");
}
