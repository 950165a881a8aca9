//! A fake Telegram Bot API server for the adapter tests: axum on 127.0.0.1 with a free port.
//!
//! It serves scripted updates through `getUpdates` (long polling with offsets, as Telegram:
//! an offset confirms and forgets every update below it), answers the methods the adapter
//! uses, records every request, and validates what it receives the way Telegram does (text
//! 1..=4096 characters, callback data 1..=64 bytes, entities of a parse mode, known message
//! and callback query ids). A request that breaks a rule gets Telegram's 400 answer and is
//! listed in [`FakeTelegram::violations`]. Method names are matched case-insensitively
//! (teloxide sends `SendMessage`). It never answers 5xx (teloxide sleeps 10 s on those).
//!
//! Staff groups: [`FakeTelegram::set_forum`] makes a supergroup a forum (`getChat` answers
//! `is_forum`), `createForumTopic` opens topics there (the thread id is the id of the topic's
//! creation message), `sendMessage` with `message_thread_id` is accepted only for an existing
//! topic of a forum (the General topic, 1, must be addressed by omitting it, as on Telegram),
//! topic messages come with `message_thread_id` and `is_topic_message`
//! ([`FakeTelegram::push_topic_text`]), and `getChatAdministrators` lists
//! [`FakeTelegram::set_admins`]. `closeForumTopic` / `reopenForumTopic` close and reopen a
//! topic and answer `true`, or 400 `TOPIC_NOT_MODIFIED` when it already is so, and
//! `TOPIC_ID_INVALID` for a deleted topic; a bot message in a closed topic is refused with
//! 400 `TOPIC_CLOSED` ([`FakeTelegram::topic_closed`], [`FakeTelegram::close_topic`]).
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The fake bot's identity.
pub const BOT_ID: u64 = 999;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "deskbot_test_bot";
/// The token the fake accepts.
pub const TOKEN: &str = "999:TEST-token-for-the-fake-server";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Lowercase method name (`sendmessage`).
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// The error answered, if any.
    pub error: Option<String>,
}

/// A message the bot sent, as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The chat.
    pub chat: i64,
    /// Its id.
    pub message_id: i32,
    /// Its text.
    pub text: String,
    /// Its buttons: (label, callback data).
    pub buttons: Vec<(String, String)>,
    /// The message it replied to.
    pub reply_to: Option<i32>,
    /// The forum topic it was sent in (`message_thread_id`).
    pub thread: Option<i32>,
}

/// What to answer instead of the real thing, once.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `retry_after`.
    RetryAfter(u32),
    /// A 200 whose body is not JSON (a proxy's error page): teloxide reports invalid JSON.
    Garbled,
    /// 400 with this description (a refusal Telegram would repeat).
    Refused(String),
}

#[derive(Default)]
struct Inner {
    next_update: u64,
    updates: VecDeque<(u64, Value)>,
    /// How often each update id was handed out by getUpdates.
    handed_out: HashMap<u64, u32>,
    next_message: i32,
    /// Bot messages by (chat, id): the JSON, for callback queries and edits.
    messages: HashMap<(i64, i32), Value>,
    /// Users' messages, so replies to them can be checked.
    user_messages: HashSet<(i64, i32)>,
    sent: Vec<Sent>,
    queries: HashMap<String, bool>,
    next_query: u64,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Fault every sendMessage to these chats answers, once per chat.
    fault_chat: HashMap<i64, VecDeque<Fault>>,
    blocked: HashSet<i64>,
    send_delay: Duration,
    /// sendMessage requests being answered right now, and the most seen at once.
    sends_in_flight: usize,
    max_sends_in_flight: usize,
    commands: Option<Value>,
    webhook: String,
    /// The fields of the last setWebhook.
    webhook_settings: Option<Value>,
    pusher: bool,
    /// Supergroups that are forums.
    forums: HashSet<i64>,
    /// Forum topics: (chat, message_thread_id) → name.
    topics: HashMap<(i64, i32), String>,
    /// Administrators per chat (the first one is the owner).
    admins: HashMap<i64, Vec<u64>>,
    /// Users' app languages (`language_code` in their updates), by user id.
    languages: HashMap<u64, String>,
    /// Forum topics deleted by someone in the group.
    deleted_topics: HashSet<(i64, i32)>,
    /// Forum topics closed (by the bot's closeForumTopic or by hand).
    closed_topics: HashSet<(i64, i32)>,
    /// Calls of these methods (lowercase) still to be done but answered `ok: true` with a
    /// result teloxide cannot read, one per entry.
    unreadable: HashMap<String, u32>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeTelegram {
    /// Its base URL, for `api_url`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn user_json(id: u64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}")})
}

/// A user as Telegram shows them in updates: with `language_code` when their app's language
/// is set ([`FakeTelegram::set_language`]).
fn user_json_in(s: &Inner, id: u64) -> Value {
    let mut u = user_json(id);
    if let Some(code) = s.languages.get(&id) {
        u["language_code"] = json!(code);
    }
    u
}

fn bot_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Desk", "username": BOT_USERNAME})
}

fn chat_json(chat: i64) -> Value {
    if chat > 0 {
        json!({"id": chat, "type": "private", "first_name": format!("User{chat}")})
    } else {
        json!({"id": chat, "type": "supergroup", "title": "Support group"})
    }
}

fn chat_json_in(s: &Inner, chat: i64) -> Value {
    let mut c = chat_json(chat);
    if s.forums.contains(&chat) {
        c["is_forum"] = json!(true);
    }
    c
}

impl FakeTelegram {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Self {
            url: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner {
                next_update: 100,
                next_message: 1000,
                ..Inner::default()
            })),
            changed: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/{*path}", axum::routing::any(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, make: impl FnOnce(&mut Inner, u64) -> Value) -> u64 {
        let id = {
            let mut s = self.lock();
            let id = s.next_update;
            s.next_update += 1;
            let mut update = make(&mut s, id);
            update["update_id"] = json!(id);
            s.updates.push_back((id, update));
            id
        };
        self.changed.notify_waiters();
        id
    }

    fn message_json(s: &mut Inner, chat: i64, user: u64) -> (i32, Value) {
        let mid = s.next_message;
        s.next_message += 1;
        s.user_messages.insert((chat, mid));
        (
            mid,
            json!({"message_id": mid, "date": now(), "chat": chat_json_in(s, chat), "from": user_json_in(s, user)}),
        )
    }

    /// A text message from `user` in `chat` (private when `chat` is positive).
    pub fn push_text(&self, chat: i64, user: u64, text: &str) -> u64 {
        self.push(|s, _| {
            let (_, mut m) = Self::message_json(s, chat, user);
            m["text"] = json!(text);
            if let Some(cmd) = text.strip_prefix('/') {
                let len = cmd.split_whitespace().next().unwrap_or("").len() + 1;
                m["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
            }
            json!({"message": m})
        })
    }

    /// A text message replying to the bot's message `to`.
    pub fn push_reply(&self, chat: i64, user: u64, text: &str, to: i32) -> u64 {
        self.push(|s, _| {
            let original = s.messages.get(&(chat, to)).cloned().unwrap();
            let (_, mut m) = Self::message_json(s, chat, user);
            m["text"] = json!(text);
            m["reply_to_message"] = original;
            json!({"message": m})
        })
    }

    /// Makes supergroup `chat` a forum (topics on) or not.
    pub fn set_forum(&self, chat: i64, forum: bool) {
        let mut s = self.lock();
        if forum {
            s.forums.insert(chat);
        } else {
            s.forums.remove(&chat);
        }
    }

    /// The administrators of `chat` (the first is the owner), as getChatAdministrators lists
    /// them.
    pub fn set_admins(&self, chat: i64, admins: &[u64]) {
        self.lock().admins.insert(chat, admins.to_vec());
    }

    /// From now on `user`'s messages and button presses carry `language_code` = `code` (an
    /// IETF tag such as "ru"), as Telegram sends the language of the user's app.
    pub fn set_language(&self, user: u64, code: &str) {
        self.lock().languages.insert(user, code.to_string());
    }

    /// Someone deletes forum topic `thread` of `chat`: sending there fails from now on with
    /// "message thread not found" (a refusal, not a rule violation).
    pub fn delete_topic(&self, chat: i64, thread: i32) {
        let mut s = self.lock();
        s.topics.remove(&(chat, thread));
        s.deleted_topics.insert((chat, thread));
    }

    /// Whether forum topic `thread` of `chat` is closed.
    pub fn topic_closed(&self, chat: i64, thread: i32) -> bool {
        self.lock().closed_topics.contains(&(chat, thread))
    }

    /// Someone in the group closes forum topic `thread` of `chat` by hand.
    pub fn close_topic(&self, chat: i64, thread: i32) {
        self.lock().closed_topics.insert((chat, thread));
    }

    /// The forum topics created in `chat` (and not deleted): (message_thread_id, name), by id.
    pub fn topics(&self, chat: i64) -> Vec<(i32, String)> {
        let mut t: Vec<(i32, String)> = self
            .lock()
            .topics
            .iter()
            .filter(|((c, _), _)| *c == chat)
            .map(|((_, id), name)| (*id, name.clone()))
            .collect();
        t.sort();
        t
    }

    /// A topic message's JSON: in forum topic `thread` of `chat`, replying (as Telegram shows
    /// it) to the topic's creation message unless it replies to something else.
    fn topic_message(s: &mut Inner, chat: i64, thread: i32, user: u64) -> Value {
        let (_, mut m) = Self::message_json(s, chat, user);
        let name = s.topics.get(&(chat, thread)).cloned().unwrap_or_default();
        m["message_thread_id"] = json!(thread);
        m["is_topic_message"] = json!(true);
        m["reply_to_message"] = json!({"message_id": thread, "date": now(),
            "chat": chat_json_in(s, chat), "from": bot_json(), "message_thread_id": thread,
            "is_topic_message": true,
            "forum_topic_created": {"name": name, "icon_color": 7_322_096}});
        m
    }

    /// A text message from `user` in forum topic `thread` of `chat`.
    pub fn push_topic_text(&self, chat: i64, thread: i32, user: u64, text: &str) -> u64 {
        self.push(|s, _| {
            let mut m = Self::topic_message(s, chat, thread, user);
            m["text"] = json!(text);
            json!({"message": m})
        })
    }

    /// A photo (with a caption) from `user` in forum topic `thread` of `chat`.
    pub fn push_topic_photo(&self, chat: i64, thread: i32, user: u64, caption: &str) -> u64 {
        self.push(|s, _| {
            let mut m = Self::topic_message(s, chat, thread, user);
            m["photo"] =
                json!([{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]);
            m["caption"] = json!(caption);
            json!({"message": m})
        })
    }

    /// A document from `user` replying to the bot's message `to` in `chat`.
    pub fn push_reply_document(&self, chat: i64, user: u64, name: &str, to: i32) -> u64 {
        self.push(|s, _| {
            let original = s.messages.get(&(chat, to)).cloned().unwrap();
            let (_, mut m) = Self::message_json(s, chat, user);
            m["document"] = json!({"file_id": "d", "file_unique_id": "du", "file_name": name});
            m["reply_to_message"] = original;
            json!({"message": m})
        })
    }

    /// A text message in a group that is not in a topic and replies to nothing.
    pub fn push_group_text(&self, chat: i64, user: u64, text: &str) -> u64 {
        self.push(|s, _| {
            let (_, mut m) = Self::message_json(s, chat, user);
            m["text"] = json!(text);
            json!({"message": m})
        })
    }

    /// A sticker.
    pub fn push_sticker(&self, chat: i64, user: u64) -> u64 {
        self.push(|s, _| {
            let (_, mut m) = Self::message_json(s, chat, user);
            m["sticker"] = json!({"file_id": "f", "file_unique_id": "u", "type": "regular",
                "width": 512, "height": 512, "is_animated": false, "is_video": false});
            json!({"message": m})
        })
    }

    /// A photo.
    pub fn push_photo(&self, chat: i64, user: u64) -> u64 {
        self.push(|s, _| {
            let (_, mut m) = Self::message_json(s, chat, user);
            m["photo"] =
                json!([{"file_id": "p", "file_unique_id": "pu", "width": 90, "height": 90}]);
            json!({"message": m})
        })
    }

    /// A member joined (a service message).
    pub fn push_service(&self, chat: i64, user: u64) -> u64 {
        self.push(|s, _| {
            let (_, mut m) = Self::message_json(s, chat, user);
            m["new_chat_members"] = json!([user_json(user + 1)]);
            json!({"message": m})
        })
    }

    /// A press of the button with `data` on the bot's message `message` in `chat`; returns the
    /// callback query id.
    pub fn push_callback(&self, chat: i64, user: u64, message: i32, data: &str) -> String {
        let mut qid = String::new();
        self.push(|s, _| {
            let msg = s.messages.get(&(chat, message)).cloned().unwrap();
            s.next_query += 1;
            qid = format!("cq{}", s.next_query);
            s.queries.insert(qid.clone(), false);
            json!({"callback_query": {"id": qid, "from": user_json_in(s, user), "message": msg,
                "chat_instance": "ci", "data": data}})
        });
        qid
    }

    /// The bot's status in `chat` changed (`kicked` when the user blocked it, `member`).
    pub fn push_membership(&self, chat: i64, user: u64, status: &str) -> u64 {
        self.push(|_, _| {
            let mut new = json!({"user": bot_json(), "status": status});
            if status == "kicked" {
                new["until_date"] = json!(0);
            }
            json!({"my_chat_member": {"chat": chat_json(chat), "from": user_json(user),
                "date": now(), "old_chat_member": {"user": bot_json(), "status": "member"},
                "new_chat_member": new}})
        })
    }

    /// The next call of `method` (case-insensitive) gets `fault` instead.
    pub fn fault(&self, method: &str, fault: Fault) {
        self.lock()
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(fault);
    }

    /// The next `times` calls of `method` (case-insensitive) are done as usual, but answered
    /// `ok: true` with a result teloxide cannot read (a field it requires missing, or an
    /// object where it expects `true`): what real Telegram does whenever the Bot API changes
    /// a type before teloxide follows.
    pub fn unreadable(&self, method: &str, times: u32) {
        *self
            .lock()
            .unreadable
            .entry(method.to_ascii_lowercase())
            .or_default() += times;
    }

    /// Queues an update as given (its `update_id` set to the next id): for updates the other
    /// helpers cannot make, such as ones teloxide cannot parse.
    pub fn push_raw(&self, update: Value) -> u64 {
        self.push(|_, _| update)
    }

    /// The next update gets this id (and later ones the ids after it).
    pub fn set_next_update(&self, id: u64) {
        self.lock().next_update = id;
    }

    /// A `message_reaction` update with neither `user` nor `actor_chat`, which panics
    /// teloxide-core 0.13's deserializer (an `unwrap`).
    pub fn push_anonymous_reaction(&self, chat: i64, message: i32) -> u64 {
        self.push(|_, _| {
            json!({"message_reaction": {"chat": chat_json(chat), "message_id": message,
                "date": now(), "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}]}})
        })
    }

    /// The next sendMessage to `chat` gets `fault` instead.
    pub fn fault_chat(&self, chat: i64, fault: Fault) {
        self.lock()
            .fault_chat
            .entry(chat)
            .or_default()
            .push_back(fault);
    }

    /// From now on `chat` has blocked the bot: sendMessage answers 403.
    pub fn block(&self, chat: i64) {
        self.lock().blocked.insert(chat);
    }

    /// A webhook is set (as left by another deployment): getUpdates fails until it is
    /// deleted.
    pub fn set_webhook(&self, url: &str) {
        self.lock().webhook = url.to_string();
    }

    /// The fields of the last setWebhook call.
    pub fn webhook_settings(&self) -> Option<Value> {
        self.lock().webhook_settings.clone()
    }

    /// `chat` unblocked the bot.
    pub fn unblock(&self, chat: i64) {
        self.lock().blocked.remove(&chat);
    }

    /// The most sendMessage requests that were in flight at the same time.
    pub fn max_sends_in_flight(&self) -> usize {
        self.lock().max_sends_in_flight
    }

    /// Every sendMessage takes this long to answer.
    pub fn set_send_delay(&self, d: Duration) {
        self.lock().send_delay = d;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests of one method (lowercase).
    pub fn calls(&self, method: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// Messages the bot sent successfully to `chat`, in order.
    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.lock()
            .sent
            .iter()
            .filter(|m| m.chat == chat)
            .cloned()
            .collect()
    }

    /// Every message the bot sent successfully.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// The commands registered with setMyCommands.
    pub fn commands(&self) -> Option<Value> {
        self.lock().commands.clone()
    }

    /// Whether the query was answered.
    pub fn answered(&self, query: &str) -> bool {
        self.lock().queries.get(query).copied().unwrap_or(false)
    }

    /// The current reply markup of a bot message (`None`: no keyboard).
    pub fn markup(&self, chat: i64, message: i32) -> Option<Value> {
        self.lock()
            .messages
            .get(&(chat, message))
            .and_then(|m| m.get("reply_markup").cloned())
    }

    /// Rule violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Update ids not yet confirmed by an offset.
    pub fn unconfirmed(&self) -> Vec<u64> {
        self.lock().updates.iter().map(|(id, _)| *id).collect()
    }

    /// Waits until `cond` holds, polling; panics with a summary after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&FakeTelegram) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() > deadline {
                let s = self.lock();
                let methods: Vec<&str> = s.requests.iter().map(|r| r.method.as_str()).collect();
                panic!(
                    "timed out waiting for {what}; {} requests: {:?}; violations: {:?}",
                    methods.len(),
                    methods.iter().rev().take(30).collect::<Vec<_>>(),
                    s.violations
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"ok": true, "result": result}).to_string(),
    )
        .into_response()
}

fn err(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let mut segments = path.rsplitn(2, '/');
    let method = segments.next().unwrap_or("").to_ascii_lowercase();
    let token_part = segments.next().unwrap_or("");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = if body.is_empty() {
        json!({})
    } else if let Some(boundary) = content_type.split("boundary=").nth(1) {
        multipart_fields(&body, boundary.trim_matches('"'))
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                fake.lock()
                    .violations
                    .push(format!("{method}: body is not JSON"));
                return err(400, "Bad Request: invalid JSON", None);
            }
        }
    };
    let record = |fake: &FakeTelegram, error: Option<String>| {
        fake.lock().requests.push(Recorded {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
            error,
        });
    };
    if path.contains("//") {
        fake.lock().violations.push(format!(
            "{method}: empty path segment in {}",
            path.replace(TOKEN, "<token>")
        ));
    }
    if token_part.rsplit('/').next() != Some(format!("bot{TOKEN}").as_str()) {
        record(&fake, Some("Unauthorized".into()));
        return err(401, "Unauthorized", None);
    }
    if method != "getupdates" {
        let fault = fake
            .lock()
            .faults
            .get_mut(&method)
            .and_then(VecDeque::pop_front);
        if let Some(f) = fault {
            record(&fake, Some(format!("{f:?}")));
            return fault_response(f);
        }
    }
    let response = match method.as_str() {
        "getme" => Ok(json!({"id": BOT_ID, "is_bot": true, "first_name": "Desk",
            "username": BOT_USERNAME, "can_join_groups": true,
            "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false})),
        "getwebhookinfo" => {
            let url = fake.lock().webhook.clone();
            Ok(json!({"url": url, "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "setwebhook" => set_webhook(&fake, &body),
        "deletewebhook" => {
            fake.lock().webhook.clear();
            Ok(json!(true))
        }
        "setmycommands" => set_my_commands(&fake, &body),
        "getupdates" if !fake.lock().webhook.is_empty() => Err(Reject::new(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            "getUpdates while a webhook is set",
        )),
        "getupdates" => {
            record(&fake, None);
            return get_updates(&fake, &body).await;
        }
        "sendmessage" => {
            let delay = {
                let mut f = fake.lock();
                f.sends_in_flight += 1;
                f.max_sends_in_flight = f.max_sends_in_flight.max(f.sends_in_flight);
                f.send_delay
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            fake.lock().sends_in_flight -= 1;
            send_message(&fake, &body)
        }
        "getchat" => get_chat(&fake, &body),
        "createforumtopic" => create_forum_topic(&fake, &body),
        "closeforumtopic" => set_topic_closed(&fake, &body, true),
        "reopenforumtopic" => set_topic_closed(&fake, &body, false),
        "getchatadministrators" => get_chat_administrators(&fake, &body),
        "editmessagetext" => edit_message_text(&fake, &body),
        "editmessagereplymarkup" => edit_reply_markup(&fake, &body),
        "answercallbackquery" => answer_callback(&fake, &body),
        other => Err(Reject::new(
            404,
            "Not Found",
            &format!("unknown method {other}"),
        )),
    };
    match response {
        Ok(v) => {
            record(&fake, None);
            fake.changed.notify_waiters();
            let unreadable = {
                let mut s = fake.lock();
                match s.unreadable.get_mut(&method) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                }
            };
            if unreadable {
                return ok(unreadable_result(v));
            }
            ok(v)
        }
        Err(Reject::Fault(f)) => {
            record(&fake, Some(format!("{f:?}")));
            fault_response(f)
        }
        Err(Reject::Api {
            code,
            description,
            violation,
        }) => {
            if let Some(v) = violation {
                fake.lock().violations.push(format!("{method}: {v}"));
            }
            record(&fake, Some(description.clone()));
            err(code, &description, None)
        }
    }
}

/// `v` changed so teloxide cannot read it: a message or chat without a field teloxide requires
/// (`chat`, `accepted_gift_types`), an object instead of `true`, administrators without
/// `user`.
fn unreadable_result(v: Value) -> Value {
    match v {
        Value::Bool(_) => json!({"answered": true}),
        Value::Object(mut o) => {
            if o.remove("chat").is_none() {
                o.remove("accepted_gift_types");
                o.remove("max_reaction_count");
            }
            Value::Object(o)
        }
        Value::Array(list) => Value::Array(
            list.into_iter()
                .map(|mut m| {
                    if let Some(o) = m.as_object_mut() {
                        o.insert("user".into(), json!("someone"));
                    }
                    m
                })
                .collect(),
        ),
        other => other,
    }
}

fn fault_response(f: Fault) -> Response {
    match f {
        Fault::RetryAfter(s) => err(
            429,
            &format!("Too Many Requests: retry after {s}"),
            Some(json!({"retry_after": s})),
        ),
        Fault::Garbled => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>upstream hiccup</body></html>".to_string(),
        )
            .into_response(),
        Fault::Refused(description) => err(400, &description, None),
    }
}

enum Reject {
    Api {
        code: u16,
        description: String,
        /// Set when the request broke a rule (as opposed to a scripted refusal).
        violation: Option<String>,
    },
    Fault(Fault),
}

impl Reject {
    fn new(code: u16, description: &str, violation: &str) -> Self {
        Self::Api {
            code,
            description: description.to_string(),
            violation: Some(violation.to_string()),
        }
    }

    fn refuse(code: u16, description: &str) -> Self {
        Self::Api {
            code,
            description: description.to_string(),
            violation: None,
        }
    }
}

fn bad(what: &str) -> Reject {
    Reject::new(400, &format!("Bad Request: {what}"), what)
}

async fn get_updates(fake: &FakeTelegram, body: &Value) -> Response {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let timeout = body["timeout"].as_u64().unwrap_or(0).min(50);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.changed.notified();
        {
            let mut s = fake.lock();
            if offset > 0 {
                s.updates.retain(|(id, _)| *id as i64 >= offset);
            }
            if !s.updates.is_empty() || Instant::now() >= deadline {
                let batch: Vec<(u64, Value)> = s.updates.iter().take(limit).cloned().collect();
                for (id, _) in &batch {
                    *s.handed_out.entry(*id).or_default() += 1;
                }
                return ok(Value::Array(batch.into_iter().map(|(_, u)| u).collect()));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn check_text(
    text: Option<&str>,
    parse_mode: Option<&str>,
    entities: &Value,
) -> Result<String, Reject> {
    let Some(text) = text else {
        return Err(bad("message text is empty"));
    };
    if let Some(mode) = parse_mode {
        check_markup(text, mode)?;
    }
    let plain = match parse_mode {
        Some(_) => strip_markup(text),
        None => text.to_string(),
    };
    if plain.trim().is_empty() {
        return Err(bad("message text is empty"));
    }
    if utf16_len(&plain) > 4096 || plain.chars().count() > 4096 {
        return Err(bad("message is too long"));
    }
    if let Some(list) = entities.as_array() {
        let len = utf16_len(&plain) as u64;
        for e in list {
            let (o, l) = (
                e["offset"].as_u64().unwrap_or(u64::MAX),
                e["length"].as_u64().unwrap_or(0),
            );
            if l == 0 || o.saturating_add(l) > len {
                return Err(bad("can't parse entities: entity out of range"));
            }
        }
    }
    Ok(text.to_string())
}

/// Telegram's parse modes, checked as strictly as Telegram does for what a bot would send.
fn check_markup(text: &str, mode: &str) -> Result<(), Reject> {
    match mode {
        "HTML" => {
            let mut open: Vec<String> = Vec::new();
            let mut rest = text;
            while let Some(i) = rest.find(['<', '&']) {
                let tail = &rest[i..];
                if let Some(after) = tail.strip_prefix('&') {
                    let ok = ["&lt;", "&gt;", "&amp;", "&quot;"]
                        .iter()
                        .any(|e| tail.starts_with(e))
                        || (tail.starts_with("&#")
                            && tail[2..].find(';').is_some_and(|j| {
                                j > 0 && tail[2..2 + j].chars().all(|c| c.is_ascii_digit())
                            }));
                    if !ok {
                        return Err(bad("can't parse entities: unsupported character entity"));
                    }
                    rest = after;
                    continue;
                }
                let Some(end) = tail.find('>') else {
                    return Err(bad("can't parse entities: unclosed start tag"));
                };
                let tag = &tail[1..end];
                let (closing, name) = match tag.strip_prefix('/') {
                    Some(n) => (true, n.trim()),
                    None => (false, tag.split_whitespace().next().unwrap_or("")),
                };
                const TAGS: &[&str] = &[
                    "b",
                    "strong",
                    "i",
                    "em",
                    "u",
                    "ins",
                    "s",
                    "strike",
                    "del",
                    "span",
                    "tg-spoiler",
                    "a",
                    "code",
                    "pre",
                    "blockquote",
                    "tg-emoji",
                ];
                if !TAGS.contains(&name) {
                    return Err(bad(&format!(
                        "can't parse entities: unsupported start tag \"{name}\""
                    )));
                }
                if closing {
                    if open.pop().as_deref() != Some(name) {
                        return Err(bad("can't parse entities: unmatched end tag"));
                    }
                } else {
                    open.push(name.to_string());
                }
                rest = &tail[end + 1..];
            }
            if !open.is_empty() {
                return Err(bad("can't parse entities: unclosed tag"));
            }
            Ok(())
        }
        "MarkdownV2" => {
            let mut chars = text.chars().peekable();
            let mut open: Vec<char> = Vec::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '*' | '_' | '~' | '`' => {
                        if open.last() == Some(&c) {
                            open.pop();
                        } else {
                            open.push(c);
                        }
                    }
                    '[' | ']' | '(' | ')' | '>' | '#' | '+' | '-' | '=' | '|' | '{' | '}' | '.'
                    | '!' => {
                        return Err(bad(&format!(
                            "can't parse entities: Character '{c}' is reserved and must be escaped with the preceding '\\'"
                        )));
                    }
                    _ => {}
                }
            }
            if !open.is_empty() {
                return Err(bad("can't parse entities: can't find end of the entity"));
            }
            Ok(())
        }
        other => Err(bad(&format!("unsupported parse_mode {other}"))),
    }
}

fn strip_markup(text: &str) -> String {
    // Good enough for length checks: drop tags and escapes.
    let mut out = String::new();
    let mut in_tag = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            '\\' if !escaped => {
                escaped = true;
                continue;
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
        escaped = false;
    }
    out
}

fn check_markup_keyboard(markup: &Value) -> Result<Vec<(String, String)>, Reject> {
    if markup.is_null() {
        return Ok(Vec::new());
    }
    let Some(rows) = markup["inline_keyboard"].as_array() else {
        return Err(bad("can't parse reply keyboard markup JSON object"));
    };
    let mut buttons = Vec::new();
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err(bad("can't parse inline keyboard row"));
        };
        for b in row {
            let text = b["text"].as_str().unwrap_or("");
            if text.trim().is_empty() {
                return Err(bad("inline keyboard button text must be non-empty"));
            }
            let Some(data) = b["callback_data"].as_str() else {
                return Err(bad("BUTTON_TYPE_INVALID"));
            };
            if data.is_empty() || data.len() > 64 {
                return Err(bad("BUTTON_DATA_INVALID"));
            }
            buttons.push((text.to_string(), data.to_string()));
        }
    }
    Ok(buttons)
}

fn chat_id(body: &Value) -> Result<i64, Reject> {
    body["chat_id"]
        .as_i64()
        .ok_or_else(|| bad("chat_id is empty"))
}

fn send_message(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let text = check_text(
        body["text"].as_str(),
        body["parse_mode"].as_str(),
        &body["entities"],
    )?;
    let buttons = check_markup_keyboard(&body["reply_markup"])?;
    let mut s = fake.lock();
    if let Some(f) = s.fault_chat.get_mut(&chat).and_then(VecDeque::pop_front) {
        return Err(Reject::Fault(f));
    }
    if s.blocked.contains(&chat) {
        return Err(Reject::refuse(
            403,
            "Forbidden: bot was blocked by the user",
        ));
    }
    let reply_to = body["reply_parameters"]["message_id"]
        .as_i64()
        .map(|m| m as i32);
    if let Some(r) = reply_to {
        let known = s.user_messages.contains(&(chat, r)) || s.messages.contains_key(&(chat, r));
        if !known && body["reply_parameters"]["allow_sending_without_reply"] != json!(true) {
            return Err(bad("message to be replied not found"));
        }
    }
    let thread = body["message_thread_id"].as_i64().map(|t| t as i32);
    if let Some(t) = thread
        && s.deleted_topics.contains(&(chat, t))
    {
        return Err(Reject::refuse(400, "Bad Request: message thread not found"));
    }
    if let Some(t) = thread {
        // Only an existing forum topic; the General topic (1) must be addressed by omitting
        // message_thread_id (Telegram answers "message thread not found" otherwise).
        if chat > 0 || !s.forums.contains(&chat) || t == 1 || !s.topics.contains_key(&(chat, t)) {
            return Err(bad("message thread not found"));
        }
        // A closed topic takes no messages until it is reopened.
        if s.closed_topics.contains(&(chat, t)) {
            return Err(Reject::refuse(400, "Bad Request: TOPIC_CLOSED"));
        }
    }
    let mid = s.next_message;
    s.next_message += 1;
    let mut msg = json!({"message_id": mid, "date": now(), "chat": chat_json_in(&s, chat),
        "from": bot_json(), "text": text});
    if let Some(t) = thread {
        msg["message_thread_id"] = json!(t);
        msg["is_topic_message"] = json!(true);
    }
    if !body["reply_markup"].is_null() {
        msg["reply_markup"] = body["reply_markup"].clone();
    }
    s.messages.insert((chat, mid), msg.clone());
    s.sent.push(Sent {
        chat,
        message_id: mid,
        text,
        buttons,
        reply_to,
        thread,
    });
    Ok(msg)
}

fn get_chat(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let s = fake.lock();
    let mut info = chat_json_in(&s, chat);
    info["accepted_gift_types"] = json!({"unlimited_gifts": false, "limited_gifts": false,
        "unique_gifts": false, "premium_subscription": false});
    info["max_reaction_count"] = json!(11);
    Ok(info)
}

fn create_forum_topic(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let name = body["name"].as_str().unwrap_or("");
    if name.is_empty() || name.chars().count() > 128 {
        return Err(bad("TOPIC_NAME_INVALID"));
    }
    let mut s = fake.lock();
    if !s.forums.contains(&chat) {
        return Err(bad("the chat is not a forum"));
    }
    // A topic's id is the id of its creation message.
    let thread = s.next_message;
    s.next_message += 1;
    s.topics.insert((chat, thread), name.to_string());
    Ok(json!({"message_thread_id": thread, "name": name, "icon_color": 7_322_096}))
}

/// closeForumTopic (`close`) and reopenForumTopic: `true`, or `TOPIC_NOT_MODIFIED` when the
/// topic already is so, as Telegram answers.
fn set_topic_closed(fake: &FakeTelegram, body: &Value, close: bool) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let thread = body["message_thread_id"]
        .as_i64()
        .and_then(|t| i32::try_from(t).ok())
        .ok_or_else(|| bad("message_thread_id is empty"))?;
    let mut s = fake.lock();
    if !s.forums.contains(&chat) {
        return Err(bad("the chat is not a forum"));
    }
    if s.deleted_topics.contains(&(chat, thread)) {
        return Err(Reject::refuse(400, "Bad Request: TOPIC_ID_INVALID"));
    }
    // The General topic has its own methods (closeGeneralForumTopic).
    if thread == 1 || !s.topics.contains_key(&(chat, thread)) {
        return Err(bad("TOPIC_ID_INVALID"));
    }
    let changed = if close {
        s.closed_topics.insert((chat, thread))
    } else {
        s.closed_topics.remove(&(chat, thread))
    };
    if !changed {
        return Err(Reject::refuse(400, "Bad Request: TOPIC_NOT_MODIFIED"));
    }
    Ok(json!(true))
}

fn get_chat_administrators(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    if chat > 0 {
        return Err(bad("there are no administrators in the private chat"));
    }
    let s = fake.lock();
    let list: Vec<Value> = s
        .admins
        .get(&chat)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, id)| {
            if i == 0 {
                json!({"user": user_json(*id), "status": "creator", "is_anonymous": false})
            } else {
                json!({"user": user_json(*id), "status": "administrator",
                    "can_be_edited": false, "is_anonymous": false, "can_manage_chat": true,
                    "can_change_info": true, "can_delete_messages": true,
                    "can_manage_video_chats": true, "can_invite_users": true,
                    "can_restrict_members": true, "can_promote_members": false,
                    "can_pin_messages": true, "can_manage_topics": true})
            }
        })
        .collect();
    Ok(Value::Array(list))
}

fn edit_message_text(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let mid = body["message_id"]
        .as_i64()
        .ok_or_else(|| bad("message identifier is not specified"))? as i32;
    let text = check_text(
        body["text"].as_str(),
        body["parse_mode"].as_str(),
        &body["entities"],
    )?;
    check_markup_keyboard(&body["reply_markup"])?;
    let mut s = fake.lock();
    let Some(msg) = s.messages.get_mut(&(chat, mid)) else {
        return Err(bad("message to edit not found"));
    };
    if msg["text"] == json!(text) && msg.get("reply_markup") == body.get("reply_markup") {
        return Err(bad(
            "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        ));
    }
    msg["text"] = json!(text);
    Ok(msg.clone())
}

fn edit_reply_markup(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let chat = chat_id(body)?;
    let mid = body["message_id"]
        .as_i64()
        .ok_or_else(|| bad("message identifier is not specified"))? as i32;
    check_markup_keyboard(&body["reply_markup"])?;
    let mut s = fake.lock();
    let Some(msg) = s.messages.get_mut(&(chat, mid)) else {
        return Err(bad("message to edit not found"));
    };
    let new = body.get("reply_markup").filter(|m| !m.is_null()).cloned();
    if msg.get("reply_markup").cloned() == new {
        return Err(Reject::refuse(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        ));
    }
    match new {
        Some(m) => msg["reply_markup"] = m,
        None => {
            if let Some(o) = msg.as_object_mut() {
                o.remove("reply_markup");
            }
        }
    }
    Ok(msg.clone())
}

fn answer_callback(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let id = body["callback_query_id"].as_str().unwrap_or("");
    if let Some(t) = body["text"].as_str()
        && t.chars().count() > 200
    {
        return Err(bad("MESSAGE_TOO_LONG"));
    }
    let mut s = fake.lock();
    match s.queries.get_mut(id) {
        Some(answered @ false) => {
            *answered = true;
            Ok(json!(true))
        }
        _ => Err(bad(
            "query is too old and response timeout expired or query id is invalid",
        )),
    }
}

/// The text fields of a multipart/form-data body (teloxide sends setWebhook that way), JSON
/// values parsed where they are JSON.
fn multipart_fields(body: &[u8], boundary: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let parsed = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        fields.insert(name.to_string(), parsed);
    }
    Value::Object(fields)
}

fn set_webhook(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let url = body["url"].as_str().unwrap_or("");
    if url.is_empty() {
        fake.lock().webhook.clear();
        return Ok(json!(true));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("bad webhook: HTTPS url must be provided for webhook"));
    }
    if let Some(secret) = body["secret_token"].as_str()
        && (secret.is_empty()
            || secret.len() > 256
            || !secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(bad(
            "bad webhook: secret token contains unallowed characters",
        ));
    }
    let start_pusher = {
        let mut s = fake.lock();
        s.webhook = url.to_string();
        s.webhook_settings = Some(body.clone());
        !std::mem::replace(&mut s.pusher, true)
    };
    if start_pusher {
        tokio::spawn(push_webhooks(fake.clone()));
    }
    Ok(json!(true))
}

/// Delivers pending updates to the webhook like Telegram: one at a time (the adapter asks for
/// max_connections = 1), in order, again and again until it is answered 200.
async fn push_webhooks(fake: FakeTelegram) {
    // teloxide's own client settings (`teloxide::net::default_reqwest_settings`).
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(17))
        .tcp_nodelay(true)
        .build()
        .unwrap();
    loop {
        let (url, secret, next) = {
            let s = fake.lock();
            let secret = s
                .webhook_settings
                .as_ref()
                .and_then(|w| w["secret_token"].as_str().map(str::to_string))
                .unwrap_or_default();
            (s.webhook.clone(), secret, s.updates.front().cloned())
        };
        let Some((id, update)) = next.filter(|_| !url.is_empty()) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        *fake.lock().handed_out.entry(id).or_default() += 1;
        let sent = client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("x-telegram-bot-api-secret-token", secret)
            .body(update.to_string())
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().as_u16() == 200) {
            fake.lock().updates.retain(|(u, _)| *u != id);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn set_my_commands(fake: &FakeTelegram, body: &Value) -> Result<Value, Reject> {
    let Some(list) = body["commands"].as_array() else {
        return Err(bad("commands must be an array"));
    };
    for c in list {
        let cmd = c["command"].as_str().unwrap_or("");
        let desc = c["description"].as_str().unwrap_or("");
        if cmd.is_empty()
            || cmd.len() > 32
            || !cmd
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        {
            return Err(bad("BOT_COMMAND_INVALID"));
        }
        if desc.is_empty() || desc.chars().count() > 256 {
            return Err(bad("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    fake.lock().commands = Some(body["commands"].clone());
    Ok(json!(true))
}

impl FakeTelegram {
    /// How often each update was handed out by getUpdates.
    pub fn handed_out(&self) -> HashMap<u64, u32> {
        self.lock().handed_out.clone()
    }
}
