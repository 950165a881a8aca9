//! A fake Discord on 127.0.0.1 for the adapter tests: REST (axum) and a gateway websocket
//! (tokio-tungstenite), recording every request and validating it the way Discord does.
//!
//! REST: `GET /api/v10/gateway` (and `/gateway/bot`), `POST channels/{id}/messages`
//! (`enforce_nonce` returns the earlier message for a repeated nonce in a channel), threads
//! (`POST channels/{id}/threads`, and `POST channels/{id}/messages/{m}/threads`, which starts
//! a thread with the message's id, once per message: a second start is 400 with code 160004,
//! as Discord answers), interaction callbacks, webhook edits and follow-ups, command registration, DM channel
//! creation, and archiving threads (`PATCH channels/{thread}` with `archived`/`locked`, as
//! Discord: an archived thread takes no change but `archived: false`, so archiving it again is
//! 400 with code 50083 "Thread is archived"; a message posted in an archived thread unarchives
//! it unless it is locked, when it is refused with 50083; an unknown channel is 404 10003).
//! Anything else is answered 404 and recorded as a violation.
//!
//! Poison: [`FakeDiscord::unreadable_next`] carries a request out and answers 200 with a body
//! serenity cannot read (a field whose type changed, as when Discord changes its API);
//! [`FakeDiscord::send_frame`] sends any text frame on the gateway.
//!
//! Gateway: HELLO, read IDENTIFY, READY, then the dispatches a test scripts with
//! [`FakeDiscord::dispatch`]. With [`Options::refuse_message_content`] an IDENTIFY asking for
//! MESSAGE_CONTENT is closed with 4014 (disallowed intents), as Discord does when the intent is
//! not enabled in the developer portal.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The bot's user id.
pub const BOT_ID: u64 = 900_000_000_000_000_001;
/// The application id.
pub const APP_ID: u64 = 900_000_000_000_000_002;

/// One REST request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/api/v10/channels/5/messages`.
    pub path: String,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    /// What the fake answered.
    pub status: u16,
    /// The `Authorization` header.
    pub auth: String,
    /// The JSON the fake answered (`Null` for none).
    pub response: Value,
}

impl Recorded {
    /// A successful request.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Is `POST channels/{channel}/messages`, or the post of the message that `channel` (a
    /// thread) was started from: Discord shows a thread's starter message at its top, and the
    /// thread has the message's id.
    pub fn is_channel_message(&self, channel: u64) -> bool {
        self.method == "POST"
            && (self.path == format!("/api/v10/channels/{channel}/messages")
                || (self.path.ends_with("/messages")
                    && self.path.starts_with("/api/v10/channels/")
                    && self.response["id"] == json!(channel.to_string())))
    }

    /// Is `POST channels/{channel}/messages/{m}/threads` (starting a thread from a message).
    pub fn is_thread_start(&self, channel: u64) -> bool {
        self.method == "POST"
            && self.path.ends_with("/threads")
            && self
                .path
                .starts_with(&format!("/api/v10/channels/{channel}/messages/"))
    }

    /// The content of a message-like body (channel message, webhook edit or follow-up, or an
    /// interaction callback's data).
    pub fn content(&self) -> String {
        let b = self.message_body();
        b["content"].as_str().unwrap_or_default().to_string()
    }

    /// The message-like part of the body.
    pub fn message_body(&self) -> &Value {
        if self.path.ends_with("/callback") {
            &self.body["data"]
        } else {
            &self.body
        }
    }

    /// Every button's (custom_id, label).
    pub fn buttons(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for row in self.message_body()["components"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for b in row["components"].as_array().into_iter().flatten() {
                out.push((
                    b["custom_id"].as_str().unwrap_or_default().to_string(),
                    b["label"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    }
}

/// A scripted failure: the next request whose path contains `path_part` gets `status`.
#[derive(Debug, Clone)]
struct Failure {
    method: &'static str,
    path_part: String,
    status: u16,
    retry_after: Option<f64>,
    /// Carry the request out first (a lost response), then answer `status`.
    perform: bool,
    /// Carry the request out and answer as usual, but with a body serenity cannot read.
    garble: bool,
}

/// The event name [`FakeDiscord::send_frame`] uses to send its text as the whole frame.
const RAW_FRAME: &str = "\u{0}raw frame";

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Close an IDENTIFY that asks for MESSAGE_CONTENT with 4014.
    pub refuse_message_content: bool,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    violations: Vec<String>,
    failures: VecDeque<Failure>,
    identifies: Vec<Value>,
    /// Interaction id → (token, when dispatched, acknowledged).
    interactions: HashMap<String, (String, Instant, bool)>,
    /// Interaction token → its channel.
    token_channels: HashMap<String, String>,
    /// Created messages by id.
    messages: HashMap<u64, Value>,
    /// (channel, nonce) of messages sent with enforce_nonce → message.
    nonces: HashMap<(String, String), Value>,
    /// DM channels opened through `POST /users/@me/channels`: user → channel.
    dm_channels: HashMap<u64, u64>,
    /// Threads created: thread id → (parent channel, name).
    threads: HashMap<u64, (u64, String)>,
    /// Archived threads.
    archived: HashSet<u64>,
    /// Locked threads.
    locked: HashSet<u64>,
    /// Threads deleted by someone in the guild.
    deleted: HashSet<u64>,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Notify,
    ws_url: String,
    next_id: AtomicU64,
    options: Options,
}

/// The fake. Dropping it leaves its tasks running until the test's runtime ends.
pub struct FakeDiscord {
    /// The REST base (`http://127.0.0.1:P`), for `discord.api_url`.
    pub api_url: String,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<(String, Value)>,
}

impl FakeDiscord {
    /// Starts the REST server and the gateway on loopback ports.
    pub async fn start(options: Options) -> Self {
        let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", rest.local_addr().unwrap());
        let ws_url = format!("ws://{}", ws.local_addr().unwrap());
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            ws_url,
            next_id: AtomicU64::new(1_000_000),
            options,
        });
        let app = Router::new()
            .fallback(rest_handler)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(rest, app).await;
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let gw = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let (gw, rx) = (Arc::clone(&gw), Arc::clone(&rx));
                tokio::spawn(async move { gateway_session(stream, gw, rx).await });
            }
        });
        Self {
            api_url,
            shared,
            events: tx,
        }
    }

    /// Sends a gateway dispatch (`t` = event name).
    pub fn dispatch(&self, event: &str, data: Value) {
        if event == "INTERACTION_CREATE" {
            let id = data["id"].as_str().unwrap_or_default().to_string();
            let token = data["token"].as_str().unwrap_or_default().to_string();
            let channel = data["channel_id"].as_str().unwrap_or_default().to_string();
            let mut inner = self.shared.inner.lock().unwrap();
            inner.token_channels.insert(token.clone(), channel);
            inner
                .interactions
                .insert(id, (token, Instant::now(), false));
        }
        self.events.send((event.to_string(), data)).unwrap();
    }

    /// Makes the next `method` request whose path contains `path_part` fail with `status`
    /// (a 429 carries `retry_after` in its body and `Retry-After` header).
    pub fn fail_next(
        &self,
        method: &'static str,
        path_part: &str,
        status: u16,
        retry_after: Option<f64>,
    ) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .push_back(Failure {
                method,
                path_part: path_part.to_string(),
                status,
                retry_after,
                perform: false,
                garble: false,
            });
    }

    /// Makes the next `method` request whose path contains `path_part` take effect and be
    /// answered 200 as usual, but with the answer's `id` and `author` changed to types a
    /// client does not expect (what a client sees when Discord changes a field).
    pub fn unreadable_next(&self, method: &'static str, path_part: &str) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .push_back(Failure {
                method,
                path_part: path_part.to_string(),
                status: 200,
                retry_after: None,
                perform: true,
                garble: true,
            });
    }

    /// Sends `text` as one gateway text frame, as is (after READY).
    pub fn send_frame(&self, text: &str) {
        self.events
            .send((RAW_FRAME.to_string(), Value::String(text.to_string())))
            .unwrap();
    }

    /// Makes the next `method` request whose path contains `path_part` take effect as usual
    /// but be answered with `status` (a response lost after Discord acted on the request).
    pub fn lose_next_response(&self, method: &'static str, path_part: &str, status: u16) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .push_back(Failure {
                method,
                path_part: path_part.to_string(),
                status,
                retry_after: None,
                perform: true,
                garble: false,
            });
    }

    /// The threads created in `channel`, as (thread id, name), by id.
    pub fn threads_in(&self, channel: u64) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = self
            .shared
            .inner
            .lock()
            .unwrap()
            .threads
            .iter()
            .filter(|(_, (parent, _))| *parent == channel)
            .map(|(id, (_, name))| (*id, name.clone()))
            .collect();
        out.sort();
        out
    }

    /// Whether thread `id` is archived.
    pub fn thread_archived(&self, id: u64) -> bool {
        self.shared.inner.lock().unwrap().archived.contains(&id)
    }

    /// Thread `id` is archived by Discord (inactivity) or by someone by hand.
    pub fn archive_thread(&self, id: u64) {
        self.shared.inner.lock().unwrap().archived.insert(id);
    }

    /// Someone deletes thread `id`: every later request to it is 404 Unknown Channel.
    pub fn delete_thread(&self, id: u64) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.threads.remove(&id);
        inner.deleted.insert(id);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// Requests Discord would have rejected, with why.
    pub fn violations(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().violations.clone()
    }

    /// The IDENTIFY payloads received.
    pub fn identifies(&self) -> Vec<Value> {
        self.shared.inner.lock().unwrap().identifies.clone()
    }

    /// A message the bot created, by id (as the fake answered it).
    pub fn message(&self, id: &str) -> Value {
        let id: u64 = id.parse().unwrap();
        self.shared.inner.lock().unwrap().messages[&id].clone()
    }

    /// Waits until `pred` holds for the requests, at most `limit`; panics with the requests
    /// otherwise.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.shared.changed.notified();
            let reqs = self.requests();
            if pred(&reqs) {
                return reqs;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let shown: Vec<String> = reqs
                    .iter()
                    .map(|r| format!("{} {} -> {} {}", r.method, r.path, r.status, r.body))
                    .collect();
                panic!(
                    "timed out waiting for {what}; requests:\n{}\nviolations: {:?}",
                    shown.join("\n"),
                    self.violations()
                );
            }
        }
    }

    /// Waits until there are at least `n` requests after index `from` matching `pred`, and
    /// returns those.
    pub async fn wait_new(
        &self,
        what: &str,
        from: usize,
        n: usize,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Vec<Recorded> {
        let reqs = self
            .wait_for(what, Duration::from_secs(60), |r| {
                r.iter().skip(from).filter(|x| pred(x)).count() >= n
            })
            .await;
        reqs.into_iter().skip(from).filter(|x| pred(x)).collect()
    }

    /// Waits for the bot to be ready: IDENTIFY seen and the slash commands registered.
    pub async fn wait_ready(&self) {
        self.wait_ready_within(Duration::from_secs(60)).await;
    }

    /// [`Self::wait_ready`] with a custom bound (a process that trains its classifier first
    /// needs longer).
    pub async fn wait_ready_within(&self, limit: Duration) {
        self.wait_for("command registration", limit, |r| {
            r.iter()
                .any(|x| x.method == "PUT" && x.path.ends_with("/commands") && x.ok())
        })
        .await;
    }

    fn id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// The DM channel the bot opened with `user` through the REST API, if it did.
    pub fn dm_channel_of(&self, user: u64) -> Option<u64> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .dm_channels
            .get(&user)
            .copied()
    }

    /// The contents of the messages the bot posted in `channel` (a thread, a DM), in order.
    pub fn posts_in(&self, channel: u64) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.is_channel_message(channel) && r.ok())
            .map(Recorded::content)
            .collect()
    }

    /// Messages the bot created in `channel`, as the fake answered them (one per distinct
    /// nonce: a repeat with the same nonce is not a new message).
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .shared
            .inner
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|(_, m)| m["channel_id"] == json!(channel.to_string()))
            .map(|(id, m)| (*id, m.clone()))
            .collect::<std::collections::BTreeMap<u64, Value>>()
            .into_values()
            .collect();
        out.retain(|m| m["author"]["id"] == json!(BOT_ID.to_string()));
        out
    }

    /// A MESSAGE_CREATE payload for a message by `user`, holding `roles`, in guild channel or
    /// thread `channel` (what a staff member types in a ticket thread).
    pub fn member_message(
        &self,
        user: u64,
        guild: u64,
        channel: u64,
        content: &str,
        roles: &[u64],
    ) -> Value {
        let mut m = self.guild_message(user, guild, channel, content, &[]);
        m["member"]["roles"] = Value::Array(roles.iter().map(|r| json!(r.to_string())).collect());
        m["member"]["nick"] = json!(format!("Nick{user}"));
        m
    }

    /// An INTERACTION_CREATE payload for `user`, holding `roles`, pressing button
    /// `custom_id` on bot message `message_id` in guild channel or thread `channel`.
    pub fn member_button_press(
        &self,
        user: u64,
        guild: u64,
        channel: u64,
        message_id: &str,
        custom_id: &str,
        roles: &[u64],
    ) -> Value {
        let mut message = self.dm(BOT_ID, channel, "ticket");
        message["id"] = json!(message_id);
        let mut i = self.button_press(user, Some(guild), &message, custom_id);
        i["member"]["roles"] = Value::Array(roles.iter().map(|r| json!(r.to_string())).collect());
        i["member"]["nick"] = json!(format!("Nick{user}"));
        i
    }

    /// A MESSAGE_CREATE payload for a DM from `user`.
    pub fn dm(&self, user: u64, channel: u64, content: &str) -> Value {
        json!({
            "id": self.id().to_string(),
            "channel_id": channel.to_string(),
            "author": user_json(user),
            "content": content,
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "type": 0
        })
    }

    /// A MESSAGE_CREATE payload for a guild message from `user` mentioning `mentions`.
    pub fn guild_message(
        &self,
        user: u64,
        guild: u64,
        channel: u64,
        content: &str,
        mentions: &[u64],
    ) -> Value {
        let mut m = self.dm(user, channel, content);
        m["guild_id"] = json!(guild.to_string());
        m["mentions"] = Value::Array(mentions.iter().map(|&u| user_json(u)).collect());
        m["member"] = json!({
            "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": false, "mute": false,
            "flags": 0
        });
        m
    }

    fn interaction_base(
        &self,
        kind: u8,
        user: u64,
        guild: Option<u64>,
        channel: u64,
        data: Value,
    ) -> Value {
        let id = self.id();
        let mut i = json!({
            "id": id.to_string(),
            "application_id": APP_ID.to_string(),
            "type": kind,
            "token": format!("itoken-{id}-secret"),
            "version": 1,
            "channel_id": channel.to_string(),
            "data": data,
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "app_permissions": "0",
            "attachment_size_limit": 26214400,
        });
        match guild {
            Some(g) => {
                i["guild_id"] = json!(g.to_string());
                i["context"] = json!(0);
                i["member"] = json!({
                    "user": user_json(user),
                    "roles": [],
                    "joined_at": "2024-01-01T00:00:00+00:00",
                    "deaf": false,
                    "mute": false,
                    "flags": 0,
                    "permissions": "0"
                });
            }
            None => {
                i["context"] = json!(1);
                i["user"] = user_json(user);
            }
        }
        i
    }

    /// An INTERACTION_CREATE payload for `user` pressing button `custom_id` on `message`.
    pub fn button_press(
        &self,
        user: u64,
        guild: Option<u64>,
        message: &Value,
        custom_id: &str,
    ) -> Value {
        let channel: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
        let mut i = self.interaction_base(
            3,
            user,
            guild,
            channel,
            json!({"custom_id": custom_id, "component_type": 2}),
        );
        i["message"] = message.clone();
        i
    }

    /// An INTERACTION_CREATE payload for slash command `name` with string `options`.
    pub fn slash(
        &self,
        user: u64,
        guild: Option<u64>,
        channel: u64,
        name: &str,
        options: &[(&str, &str)],
    ) -> Value {
        let opts: Vec<Value> = options
            .iter()
            .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
            .collect();
        self.interaction_base(
            2,
            user,
            guild,
            channel,
            json!({"id": "777", "name": name, "type": 1, "options": opts}),
        )
    }
}

/// Adds an attachment (`filename`, served at `url`) to a MESSAGE_CREATE payload.
pub fn with_attachment(mut message: Value, id: u64, filename: &str, url: &str) -> Value {
    let a = json!({
        "id": id.to_string(), "filename": filename, "size": 1234, "url": url,
        "proxy_url": url, "content_type": "image/png"
    });
    match message["attachments"].as_array_mut() {
        Some(list) => list.push(a),
        None => message["attachments"] = json!([a]),
    }
    message
}

/// A user object.
pub fn user_json(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "username": format!("user{id}"),
        "discriminator": "0",
        "global_name": format!("User {id}"),
        "avatar": null,
        "bot": id == BOT_ID
    })
}

fn bot_message(shared: &Shared, channel: &str, body: &Value) -> Value {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let mut m = json!({
        "id": id.to_string(),
        "channel_id": channel,
        "author": user_json(BOT_ID),
        "content": body["content"].as_str().unwrap_or_default(),
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": if body.get("message_reference").is_some() { 19 } else { 0 },
        "components": body.get("components").cloned().unwrap_or(json!([])),
    });
    if let Some(flags) = body.get("flags") {
        m["flags"] = flags.clone();
    }
    if let Some(n) = body.get("nonce") {
        m["nonce"] = n.clone();
    }
    shared.inner.lock().unwrap().messages.insert(id, m.clone());
    m
}

/// Checks a message body like Discord does; returns what is wrong.
pub fn validate_message(body: &Value, require_content: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let content = body["content"].as_str().unwrap_or_default();
    let n = content.chars().count();
    if n > 2000 {
        bad.push(format!("content has {n} characters (max 2000)"));
    }
    if require_content && content.trim().is_empty() && body.get("components").is_none() {
        bad.push("empty message".into());
    }
    match body.get("allowed_mentions") {
        None => bad.push("allowed_mentions missing".into()),
        Some(am) => {
            if am["parse"] != json!([]) {
                bad.push(format!(
                    "allowed_mentions.parse is {} (want [])",
                    am["parse"]
                ));
            }
            for k in ["users", "roles"] {
                if let Some(v) = am.get(k)
                    && v != &json!([])
                {
                    bad.push(format!("allowed_mentions.{k} is {v}"));
                }
            }
            if am.get("replied_user") == Some(&json!(true)) {
                bad.push("allowed_mentions.replied_user is true".into());
            }
        }
    }
    if let Some(rows) = body.get("components") {
        let rows = rows.as_array().cloned().unwrap_or_default();
        if rows.len() > 5 {
            bad.push(format!("{} action rows (max 5)", rows.len()));
        }
        let mut ids = HashSet::new();
        for row in &rows {
            if row["type"] != json!(1) {
                bad.push("a top-level component is not an action row".into());
            }
            let buttons = row["components"].as_array().cloned().unwrap_or_default();
            if buttons.is_empty() || buttons.len() > 5 {
                bad.push(format!("{} buttons in a row (1 to 5)", buttons.len()));
            }
            for b in &buttons {
                if b["type"] != json!(2) {
                    bad.push("a row holds something other than a button".into());
                }
                let style = b["style"].as_u64().unwrap_or(0);
                if !(1..=4).contains(&style) {
                    bad.push(format!("button style {style}"));
                }
                let id = b["custom_id"].as_str().unwrap_or_default();
                if id.is_empty() || id.chars().count() > 100 {
                    bad.push(format!("custom_id of {} characters", id.chars().count()));
                }
                if !ids.insert(id.to_string()) {
                    bad.push(format!("duplicate custom_id {id}"));
                }
                let label = b["label"].as_str().unwrap_or_default();
                if label.chars().count() > 80 {
                    bad.push("button label over 80 characters".into());
                }
            }
        }
    }
    bad
}

/// What the fake answers: status, JSON body (`Null` for none), extra headers.
type Answer = (u16, Value, Vec<(&'static str, String)>);

fn invalid_form(errors: &[String]) -> Answer {
    (
        400,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": {}, "_fake": errors}),
        Vec::new(),
    )
}

fn api_error(status: u16, code: u64, message: &str) -> Answer {
    (
        status,
        json!({"code": code, "message": message}),
        Vec::new(),
    )
}

async fn rest_handler(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String("<not json>".into()))
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (status, response, extra) = answer(&shared, &method, &path, &body, &auth);
    let code = StatusCode::from_u16(status).unwrap();
    let mut out = if response.is_null() {
        code.into_response()
    } else {
        (code, axum::Json(response.clone())).into_response()
    };
    for (k, v) in extra {
        out.headers_mut().insert(k, v.parse().unwrap());
    }
    {
        let mut inner = shared.inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path,
            body,
            status,
            auth,
            response,
        });
    }
    shared.changed.notify_waiters();
    out
}

fn answer(shared: &Shared, method: &Method, path: &str, body: &Value, auth: &str) -> Answer {
    // Scripted failures first.
    {
        let mut inner = shared.inner.lock().unwrap();
        if let Some(pos) = inner
            .failures
            .iter()
            .position(|f| f.method == method.as_str() && path.contains(&f.path_part))
        {
            let f = inner.failures.remove(pos).unwrap();
            drop(inner);
            if f.garble {
                let (status, mut v, headers) = route(shared, method, path, body, auth);
                if (200..300).contains(&status) && v.is_object() {
                    v["id"] = json!({"snowflake": v["id"].clone()});
                    v["author"] = json!("a user, as a string");
                }
                return (status, v, headers);
            }
            if f.perform {
                let _ = route(shared, method, path, body, auth);
                return api_error(f.status, 0, "fake failure after the request took effect");
            }
            return match f.retry_after {
                Some(s) => (
                    f.status,
                    json!({"message": "You are being rate limited.", "retry_after": s, "global": false, "code": 0}),
                    vec![
                        ("retry-after", format!("{s}")),
                        ("x-ratelimit-scope", "user".to_string()),
                    ],
                ),
                None => api_error(f.status, 0, "fake failure"),
            };
        }
    }
    route(shared, method, path, body, auth)
}

fn route(shared: &Shared, method: &Method, path: &str, body: &Value, auth: &str) -> Answer {
    let violation = |why: String| {
        shared.inner.lock().unwrap().violations.push(why);
    };
    if !auth.starts_with("Bot ") && !path.contains("/webhooks/") {
        violation(format!("{method} {path} without a bot token"));
        return api_error(401, 0, "401: Unauthorized");
    }
    let seg: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    let ok = |v: Value| -> Answer { (200, v, Vec::new()) };
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["gateway"]) => ok(json!({"url": shared.ws_url})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": shared.ws_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        })),
        ("POST", ["channels", channel, "messages"]) => {
            let bad = validate_message(body, true);
            if !bad.is_empty() {
                violation(format!("POST {path}: {bad:?}"));
                return invalid_form(&bad);
            }
            // A message in an archived thread unarchives it, unless a moderator locked it.
            if let Ok(id) = channel.parse::<u64>() {
                let mut inner = shared.inner.lock().unwrap();
                if inner.deleted.contains(&id) {
                    return api_error(404, 10003, "Unknown Channel");
                }
                if inner.archived.contains(&id) {
                    if inner.locked.contains(&id) {
                        return api_error(400, 50083, "Thread is archived");
                    }
                    inner.archived.remove(&id);
                }
            }
            // enforce_nonce: the same nonce in the same channel returns the first message.
            if body["enforce_nonce"] == json!(true)
                && let Some(nonce) = body["nonce"].as_str()
            {
                let key = (channel.to_string(), nonce.to_string());
                if nonce.chars().count() > 25 {
                    violation(format!("nonce {nonce} longer than 25"));
                }
                if let Some(m) = shared.inner.lock().unwrap().nonces.get(&key).cloned() {
                    return ok(m);
                }
                let m = bot_message(shared, channel, body);
                shared.inner.lock().unwrap().nonces.insert(key, m.clone());
                return ok(m);
            }
            ok(bot_message(shared, channel, body))
        }
        // A thread without a starter message (handoff: one per ticket in the staff channel).
        ("POST", ["channels", channel, "threads"]) => {
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 100 {
                violation(format!("POST {path}: thread name {name:?}"));
                return invalid_form(&["name".to_string()]);
            }
            let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
            if let Ok(parent) = channel.parse::<u64>() {
                shared
                    .inner
                    .lock()
                    .unwrap()
                    .threads
                    .insert(id, (parent, name.to_string()));
            }
            ok(json!({
                "id": id.to_string(),
                "type": body["type"].as_u64().unwrap_or(11),
                "name": name,
                "parent_id": channel,
            }))
        }
        // A thread started from a message: it has the message's id, and a message holds one.
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 100 {
                violation(format!("POST {path}: thread name {name:?}"));
                return invalid_form(&["name".to_string()]);
            }
            let (Ok(parent), Ok(id)) = (channel.parse::<u64>(), message.parse::<u64>()) else {
                violation(format!("POST {path}: not snowflakes"));
                return api_error(404, 10008, "Unknown Message");
            };
            let mut inner = shared.inner.lock().unwrap();
            let in_channel = inner
                .messages
                .get(&id)
                .is_some_and(|m| m["channel_id"] == json!(channel));
            if !in_channel {
                drop(inner);
                violation(format!("POST {path}: no such message in the channel"));
                return api_error(404, 10008, "Unknown Message");
            }
            if inner.threads.contains_key(&id) {
                // Not a violation: the bot's way to find a thread it started before.
                return api_error(
                    400,
                    160004,
                    "A thread has already been created for this message",
                );
            }
            inner.threads.insert(id, (parent, name.to_string()));
            drop(inner);
            ok(json!({
                "id": id.to_string(),
                "type": 11,
                "name": name,
                "parent_id": channel,
            }))
        }
        // Modify a thread: archive or unarchive it (lock and unlock it).
        ("PATCH", ["channels", channel]) => {
            let Ok(id) = channel.parse::<u64>() else {
                violation(format!("PATCH {path}: not a snowflake"));
                return api_error(404, 10003, "Unknown Channel");
            };
            let mut inner = shared.inner.lock().unwrap();
            if inner.deleted.contains(&id) {
                return api_error(404, 10003, "Unknown Channel");
            }
            let Some((parent, name)) = inner.threads.get(&id).cloned() else {
                drop(inner);
                violation(format!("PATCH {path}: not a thread the bot made"));
                return api_error(404, 10003, "Unknown Channel");
            };
            let known = ["archived", "locked", "name", "auto_archive_duration"];
            if let Some(k) = body
                .as_object()
                .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
            {
                violation(format!("PATCH {path}: unexpected field {k}"));
            }
            // An archived thread must be unarchived by the same request to change anything.
            if inner.archived.contains(&id) && body["archived"] != json!(false) {
                return api_error(400, 50083, "Thread is archived");
            }
            match body["archived"].as_bool() {
                Some(true) => {
                    inner.archived.insert(id);
                }
                Some(false) => {
                    inner.archived.remove(&id);
                }
                None => {}
            }
            match body["locked"].as_bool() {
                Some(true) => {
                    inner.locked.insert(id);
                }
                Some(false) => {
                    inner.locked.remove(&id);
                }
                None => {}
            }
            let (archived, locked) = (inner.archived.contains(&id), inner.locked.contains(&id));
            drop(inner);
            ok(json!({
                "id": id.to_string(),
                "type": 11,
                "name": name,
                "parent_id": parent.to_string(),
                "thread_metadata": {
                    "archived": archived,
                    "auto_archive_duration": 10080,
                    "archive_timestamp": "2024-01-01T00:00:00+00:00",
                    "locked": locked,
                },
            }))
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            let mut inner = shared.inner.lock().unwrap();
            let Some(entry) = inner.interactions.get_mut(*id) else {
                drop(inner);
                violation(format!("callback for unknown interaction {id}"));
                return api_error(404, 10062, "Unknown interaction");
            };
            if entry.0 != *token {
                drop(inner);
                violation(format!("callback for {id} with a wrong token"));
                return api_error(401, 50027, "Invalid Webhook Token");
            }
            if entry.1.elapsed() > Duration::from_secs(3) {
                drop(inner);
                violation(format!("interaction {id} acknowledged after 3 s"));
                return api_error(404, 10062, "Unknown interaction");
            }
            if entry.2 {
                drop(inner);
                violation(format!("interaction {id} acknowledged twice"));
                return api_error(400, 40060, "Interaction has already been acknowledged.");
            }
            entry.2 = true;
            drop(inner);
            let kind = body["type"].as_u64().unwrap_or(0);
            let bad = match kind {
                4 | 7 => validate_message(&body["data"], true),
                5 | 6 => Vec::new(),
                other => vec![format!("callback type {other}")],
            };
            if !bad.is_empty() {
                violation(format!("POST {path}: {bad:?}"));
                return invalid_form(&bad);
            }
            (204, Value::Null, Vec::new())
        }
        ("PATCH", ["webhooks", app, token, "messages", "@original"]) => {
            if *app != APP_ID.to_string() {
                violation(format!("webhook edit for application {app}"));
            }
            let acked = shared
                .inner
                .lock()
                .unwrap()
                .interactions
                .values()
                .any(|(t, _, acked)| t == token && *acked);
            if !acked {
                violation(format!("edit of an unacknowledged interaction {token}"));
                return api_error(404, 10015, "Unknown Webhook");
            }
            let bad = validate_message(body, false);
            if !bad.is_empty() {
                violation(format!("PATCH {path}: {bad:?}"));
                return invalid_form(&bad);
            }
            let channel = shared.inner.lock().unwrap().token_channels[*token].clone();
            ok(bot_message(shared, &channel, body))
        }
        ("POST", ["webhooks", _app, token]) => {
            let acked = shared
                .inner
                .lock()
                .unwrap()
                .interactions
                .values()
                .any(|(t, _, acked)| t == token && *acked);
            if !acked {
                violation(format!(
                    "follow-up to an unacknowledged interaction {token}"
                ));
                return api_error(404, 10015, "Unknown Webhook");
            }
            let bad = validate_message(body, true);
            if !bad.is_empty() {
                violation(format!("POST {path}: {bad:?}"));
                return invalid_form(&bad);
            }
            let channel = shared.inner.lock().unwrap().token_channels[*token].clone();
            ok(bot_message(shared, &channel, body))
        }
        ("PUT", ["applications", app, "commands"])
        | ("PUT", ["applications", app, "guilds", _, "commands"]) => {
            if *app != APP_ID.to_string() {
                violation(format!("commands registered for application {app}"));
            }
            let Some(cmds) = body.as_array() else {
                violation("command registration is not a list".into());
                return invalid_form(&["not a list".into()]);
            };
            let mut out = Vec::new();
            for (i, c) in cmds.iter().enumerate() {
                let name = c["name"].as_str().unwrap_or_default();
                let desc = c["description"].as_str().unwrap_or_default();
                if name.is_empty()
                    || name.len() > 32
                    || !name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')
                    || desc.is_empty()
                    || desc.chars().count() > 100
                {
                    violation(format!("bad command {c}"));
                }
                let mut c = c.clone();
                c["id"] = json!((5000 + i).to_string());
                c["application_id"] = json!(APP_ID.to_string());
                c["version"] = json!("1");
                c["type"] = c.get("type").cloned().unwrap_or(json!(1));
                c["default_member_permissions"] = json!(null);
                out.push(c);
            }
            ok(Value::Array(out))
        }
        ("POST", ["users", "@me", "channels"]) => {
            // One DM channel per user, the same every time (as Discord does).
            let Some(user) = body["recipient_id"]
                .as_str()
                .and_then(|u| u.parse::<u64>().ok())
            else {
                violation(format!("POST {path} without a recipient_id: {body}"));
                return invalid_form(&["recipient_id".into()]);
            };
            let fresh = shared.next_id.fetch_add(1, Ordering::SeqCst);
            let channel = *shared
                .inner
                .lock()
                .unwrap()
                .dm_channels
                .entry(user)
                .or_insert(fresh);
            ok(json!({
                "id": channel.to_string(), "type": 1, "last_message_id": null,
                "recipients": [user_json(user)]
            }))
        }
        ("DELETE", ["webhooks", _app, token, "messages", "@original"]) => {
            let acked = shared
                .inner
                .lock()
                .unwrap()
                .interactions
                .values()
                .any(|(t, _, acked)| t == token && *acked);
            if !acked {
                violation(format!("delete of an unacknowledged interaction {token}"));
                return api_error(404, 10015, "Unknown Webhook");
            }
            (204, Value::Null, Vec::new())
        }
        _ => {
            violation(format!("unexpected {method} {path}"));
            api_error(404, 0, "404: Not Found")
        }
    }
}

async fn gateway_session(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}});
    if ws.send(WsMessage::Text(hello.to_string())).await.is_err() {
        return;
    }
    // Read until IDENTIFY.
    let identify = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v["op"] == json!(2) {
                    break v;
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return,
        }
    };
    let intents = identify["d"]["intents"].as_u64().unwrap_or(0);
    shared.inner.lock().unwrap().identifies.push(identify);
    shared.changed.notify_waiters();
    if shared.options.refuse_message_content && intents & (1 << 15) != 0 {
        let _ = ws
            .send(WsMessage::Close(Some(CloseFrame {
                code: CloseCode::Library(4014),
                reason: "Disallowed intent(s).".into(),
            })))
            .await;
        // Let the client read the close before the socket goes.
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
        return;
    }
    let flags = if shared.options.refuse_message_content {
        0
    } else {
        1 << 19
    };
    let ready = json!({"op": 0, "s": 1, "t": "READY", "d": {
        "v": 10,
        "user": user_json(BOT_ID),
        "guilds": [],
        "session_id": "fake-session",
        "resume_gateway_url": shared.ws_url,
        "shard": [0, 1],
        "application": {"id": APP_ID.to_string(), "flags": flags}
    }});
    if ws.send(WsMessage::Text(ready.to_string())).await.is_err() {
        return;
    }
    let mut seq = 1u64;
    let mut events = events.lock().await;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["op"] == json!(1) {
                        let ack = json!({"op": 11});
                        if ws.send(WsMessage::Text(ack.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            ev = events.recv() => {
                let Some((t, d)) = ev else { return };
                if t == RAW_FRAME {
                    let text = d.as_str().unwrap_or_default().to_string();
                    if ws.send(WsMessage::Text(text)).await.is_err() {
                        return;
                    }
                    continue;
                }
                seq += 1;
                let msg = json!({"op": 0, "s": seq, "t": t, "d": d});
                if ws.send(WsMessage::Text(msg.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }
}
