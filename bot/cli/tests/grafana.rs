//! The Grafana dashboard (`deploy/grafana/deskbot.json`) against a running `deskbot run`:
//! the file is a dashboard Grafana imports as is (a datasource variable, no fixed datasource),
//! every query parses as PromQL (GreptimeDB's parser, after Grafana's variables are put in as
//! Grafana would), and every metric a query reads, and every label it filters or groups by, is
//! one the real process serves on `/metrics`.
//!
//! What `/metrics` serves is read from the page itself: the samples, and the `# TYPE` lines,
//! from which the series names of each family follow (a counter `x` is sampled as `x_total`, a
//! histogram `x` as `x_bucket`, `x_sum` and `x_count`, a gauge as `x`). So a misspelt name, a
//! counter queried as `_count` or a histogram without `_bucket` is reported
//! (`a_misspelt_name_is_reported` proves the check fails on them). The registry prints a
//! labelled family only once it has a sample (a fresh process shows no `# TYPE` line for
//! escalations or errors), so before scraping the test makes the process count every event the
//! dashboard reads: a turn with an intent, a guide that fixed the problem, an escalation, a
//! flood drop, an unreadable update, an unreadable answer, a refused reply parked as a dead
//! letter, and a failed Bot API call; and every metric the dashboard reads must have a sample.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deskbot_tests::fake_telegram as fake;
use promql_parser::parser::{self, Expr, LabelModifier};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

use crate::observe::{RunningDeskbot, get, samples, scrape, value};

/// The dashboard as shipped.
const DASHBOARD: &str = include_str!("../../../deploy/grafana/deskbot.json");

/// Generous: a hang fails the test instead of stalling CI; nothing here is timed otherwise.
const HANG_GUARD: Duration = Duration::from_secs(180);

/// Grafana's built-in interval variables, as Grafana puts them into a query (a duration).
const BUILTIN_INTERVALS: [&str; 3] = ["$__rate_interval", "$__interval", "$__range"];

/// A metric family as `/metrics` shows it.
#[derive(Debug, Default)]
struct Series {
    /// Label names seen on its samples (none when it has no sample yet).
    labels: BTreeSet<String>,
    /// Whether the page held a sample of it (not only its `# TYPE`).
    sampled: bool,
}

/// The series names `/metrics` serves, from its `# TYPE` lines and its samples.
fn exposed(page: &str) -> BTreeMap<String, Series> {
    let mut out: BTreeMap<String, Series> = BTreeMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
                panic!("a bad TYPE line: {line:?}");
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "gauge" | "unknown" => &[""],
                "histogram" => &["_bucket", "_sum", "_count"],
                other => panic!("a metric type this test does not know: {other} ({line})"),
            };
            for s in suffixes {
                out.entry(format!("{family}{s}")).or_default();
            }
        }
    }
    for series in samples(page).keys() {
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series.as_str(), ""),
        };
        let entry = out.entry(name.to_string()).or_default();
        entry.sampled = true;
        // `a="x",b="y"`: label values are quoted and may hold commas, so walk the quotes.
        let mut rest = labels;
        while let Some((label, after)) = rest.split_once("=\"") {
            entry
                .labels
                .insert(label.trim_start_matches(',').to_string());
            let mut escaped = false;
            let end = after
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map_or(after.len(), |(i, _)| i + 1);
            rest = &after[end..];
        }
    }
    out
}

/// Every query of the dashboard: (where it is, the query), panels' targets (rows' nested
/// panels included) and the variables' queries.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("panel {title:?}: a target without `expr`"));
                out.push((format!("panel {title:?}"), expr.to_string()));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            let query = var["query"]["query"]
                .as_str()
                .or_else(|| var["query"].as_str())
                .unwrap_or_else(|| panic!("variable {}: no query", var["name"]));
            out.push((format!("variable {}", var["name"]), query.to_string()));
        }
    }
    out
}

/// The dashboard's own variables, by name.
fn variables(dashboard: &Value) -> BTreeMap<String, String> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["name"].as_str()?.to_string(), v["type"].as_str()?.into())))
        .collect()
}

/// `query` as Grafana sends it to Prometheus: interval variables become a duration, the
/// dashboard's variables a value that matches anything (they are only used in `=~` matchers);
/// a `$` left over is a variable the dashboard does not define.
fn substitute(query: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut q = query.to_string();
    for builtin in BUILTIN_INTERVALS {
        q = q.replace(builtin, "5m");
    }
    for name in vars.keys() {
        q = q.replace(&format!("${{{name}}}"), ".*");
        q = q.replace(&format!("${name}"), ".*");
    }
    match q.find('$') {
        Some(i) => Err(format!("an undefined variable at {:?}", &q[i..])),
        None => Ok(q),
    }
}

/// A `label_values(metric, label)` variable query as the PromQL selector it reads, with the
/// label it lists; any other query as is.
fn variable_query(query: &str) -> (String, Option<String>) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'));
    match inner.and_then(|i| i.rsplit_once(',')) {
        Some((selector, label)) => (selector.trim().to_string(), Some(label.trim().to_string())),
        None => (query.to_string(), None),
    }
}

/// What a query reads: each selector's metric name and label matchers, and the labels each
/// `by (...)` groups by together with the metrics beneath it.
#[derive(Default)]
struct Reads {
    selectors: Vec<(String, Vec<String>)>,
    groupings: Vec<(Vec<String>, Expr)>,
    unnamed: usize,
}

impl ExprVisitor for Reads {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let vs = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            Expr::Aggregate(agg) => {
                if let Some(LabelModifier::Include(labels)) = &agg.modifier {
                    self.groupings
                        .push((labels.labels.clone(), (*agg.expr).clone()));
                }
                None
            }
            _ => None,
        };
        if let Some(vs) = vs {
            match &vs.name {
                Some(name) => self.selectors.push((
                    name.clone(),
                    vs.matchers
                        .matchers
                        .iter()
                        .map(|m| m.name.clone())
                        .filter(|l| l != "__name__")
                        .collect(),
                )),
                None => self.unnamed += 1,
            }
        }
        Ok(true)
    }
}

fn reads(expr: &Expr) -> Reads {
    let mut r = Reads::default();
    walk_expr(&mut r, expr).unwrap_or_else(|e| panic!("{e}"));
    r
}

/// Every problem of the dashboard `text` against the `/metrics` `page`: JSON or PromQL that
/// does not parse, an undefined variable, a metric the page does not serve, a label its samples
/// do not have. Empty when the dashboard is right.
fn problems(text: &str, page: &str) -> Vec<String> {
    let dashboard: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return vec![format!("the dashboard is not JSON: {e}")],
    };
    let metrics = exposed(page);
    let vars = variables(&dashboard);
    let mut out = Vec::new();
    for (place, query) in queries(&dashboard) {
        let (query, listed) = if place.starts_with("variable") {
            variable_query(&query)
        } else {
            (query, None)
        };
        let promql = match substitute(&query, &vars) {
            Ok(q) => q,
            Err(e) => {
                out.push(format!("{place}: {e} in {query:?}"));
                continue;
            }
        };
        let expr = match parser::parse(&promql) {
            Ok(e) => e,
            Err(e) => {
                out.push(format!("{place}: not PromQL ({e}): {query:?}"));
                continue;
            }
        };
        let found = reads(&expr);
        if found.selectors.is_empty() || found.unnamed > 0 {
            out.push(format!("{place}: reads no named metric: {query:?}"));
        }
        for (name, labels) in &found.selectors {
            let Some(series) = metrics.get(name) else {
                out.push(format!("{place}: {name} is not served on /metrics"));
                continue;
            };
            for label in labels.iter().chain(listed.iter()) {
                if series.sampled && !series.labels.contains(label) {
                    out.push(format!("{place}: {name} has no label {label:?}"));
                }
            }
        }
        for (by, inner) in &found.groupings {
            for (name, _) in reads(inner).selectors {
                let Some(series) = metrics.get(&name).filter(|s| s.sampled) else {
                    continue;
                };
                for label in by {
                    if !series.labels.contains(label) {
                        out.push(format!(
                            "{place}: groups {name} by {label:?}, which it does not have"
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Every metric name the dashboard `text` reads.
fn metrics_read(text: &str) -> BTreeSet<String> {
    let dashboard: Value = serde_json::from_str(text).expect("the dashboard is JSON");
    let vars = variables(&dashboard);
    let mut out = BTreeSet::new();
    for (place, query) in queries(&dashboard) {
        let (query, _) = variable_query(&query);
        let promql = substitute(&query, &vars).unwrap_or_else(|e| panic!("{place}: {e}"));
        let expr = parser::parse(&promql).unwrap_or_else(|e| panic!("{place}: {e}: {promql}"));
        out.extend(reads(&expr).selectors.into_iter().map(|(name, _)| name));
    }
    out
}

/// What Grafana needs to import the file as is: an id-less dashboard with a uid and a title,
/// panels that each have a type, a unique id and a place on the 24-column grid without
/// overlapping another, and queries on the datasource variable rather than a fixed datasource.
fn check_importable(dashboard: &Value) {
    assert!(dashboard["id"].is_null(), "an exported id would clash");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let vars = variables(dashboard);
    assert_eq!(
        vars.get("datasource").map(String::as_str),
        Some("datasource"),
        "a datasource variable"
    );
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut charts = 0;
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        assert!(panel["type"].is_string(), "{title}: no type");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a numeric id")),
            "{title}: id used twice"
        );
        let g = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: off the grid");
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.clone()) {
                    panic!("{title} overlaps {other}");
                }
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        charts += 1;
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{title}: the panel's datasource"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    assert!(charts >= 10, "{charts} panels");
}

#[test]
fn the_dashboard_is_importable_and_its_queries_parse() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    check_importable(&dashboard);
    let all = queries(&dashboard);
    assert!(all.len() >= 20, "{} queries", all.len());
    let vars = variables(&dashboard);
    for (place, query) in &all {
        let (query, _) = variable_query(query);
        let promql = substitute(&query, &vars).unwrap_or_else(|e| panic!("{place}: {e}"));
        let expr = parser::parse(&promql).unwrap_or_else(|e| panic!("{place}: {e}: {promql}"));
        assert!(!reads(&expr).selectors.is_empty(), "{place}: {query}");
    }
    // What the issue asks the dashboard to show, each by the metric that counts it.
    let text: String = all.iter().map(|(_, q)| q.as_str()).collect();
    for metric in [
        "deskbot_messages_in_total",
        "deskbot_intents_total",
        "deskbot_resolutions_total",
        "deskbot_escalations_total",
        "deskbot_open_tickets",
        "deskbot_turn_duration_seconds_bucket",
        "deskbot_errors_total",
        "deskbot_messages_dropped_total",
    ] {
        assert!(text.contains(metric), "no panel shows {metric}");
    }
    assert!(text.contains("histogram_quantile(0.9"), "no p90 latency");
}

/// The check itself fails on the mistakes it is there for (tested on a small page, so this
/// needs no process).
#[test]
fn a_misspelt_name_is_reported() {
    let page = concat!(
        "# HELP deskbot_open_tickets Open.\n",
        "# TYPE deskbot_open_tickets gauge\n",
        "deskbot_open_tickets 0\n",
        "# HELP deskbot_errors Errors.\n",
        "# TYPE deskbot_errors counter\n",
        "# HELP deskbot_turn_duration_seconds Turns.\n",
        "# TYPE deskbot_turn_duration_seconds histogram\n",
        "deskbot_turn_duration_seconds_sum{channel=\"telegram\"} 0.5\n",
        "deskbot_turn_duration_seconds_count{channel=\"telegram\"} 1\n",
        "deskbot_turn_duration_seconds_bucket{channel=\"telegram\",le=\"+Inf\"} 1\n",
        "# HELP deskbot_channel_up Up.\n",
        "# TYPE deskbot_channel_up gauge\n",
        "deskbot_channel_up{channel=\"a,\\\"b\"} 1\n",
    );
    let dash = |exprs: &[&str]| {
        let targets: Vec<Value> = exprs
            .iter()
            .map(|e| serde_json::json!({"refId": "A", "expr": e}))
            .collect();
        serde_json::json!({
            "panels": [{"type": "row", "title": "r", "panels": [
                {"type": "timeseries", "title": "t", "targets": targets}]}],
            "templating": {"list": [
                {"name": "datasource", "type": "datasource"},
                {"name": "channel", "type": "query",
                 "query": {"query": "label_values(deskbot_channel_up, channel)"}}]}
        })
        .to_string()
    };
    let good = dash(&[
        "max(deskbot_open_tickets)",
        "sum(increase(deskbot_errors_total[$__range])) or vector(0)",
        "histogram_quantile(0.9, sum by (channel, le) (rate(deskbot_turn_duration_seconds_bucket{channel=~\"$channel\"}[$__rate_interval])))",
        "sum(rate(deskbot_turn_duration_seconds_sum[5m])) / sum(rate(deskbot_turn_duration_seconds_count[5m]))",
    ]);
    assert_eq!(problems(&good, page), Vec::<String>::new());
    for (bad, why) in [
        (
            "max(deskbot_open_ticket)",
            "deskbot_open_ticket is not served",
        ),
        ("deskbot_open_tickets_total", "is not served"),
        ("rate(deskbot_errors[5m])", "deskbot_errors is not served"),
        ("rate(deskbot_errors_count[5m])", "is not served"),
        (
            "histogram_quantile(0.5, rate(deskbot_turn_duration_seconds[5m]))",
            "deskbot_turn_duration_seconds is not served",
        ),
        (
            "rate(deskbot_turn_duration_seconds_count{kind=\"x\"}[5m])",
            "has no label \"kind\"",
        ),
        (
            "sum by (intent) (rate(deskbot_turn_duration_seconds_count[5m]))",
            "which it does not have",
        ),
        ("sum(rate(deskbot_errors_total[5m]", "not PromQL"),
        (
            "deskbot_open_tickets{channel=~\"$chanel\"}",
            "undefined variable",
        ),
        ("vector(1)", "reads no named metric"),
    ] {
        let found = problems(&dash(&[bad]), page);
        assert!(
            found.len() == 1 && found[0].contains(why),
            "{bad}: {found:?}"
        );
    }
    // A misspelling in the shipped dashboard itself is caught.
    let misspelt = DASHBOARD.replace("deskbot_escalations_total", "deskbot_escalation_total");
    assert_ne!(misspelt, DASHBOARD);
    let page =
        page.to_string() + "# HELP deskbot_escalations Esc.\n# TYPE deskbot_escalations counter\n";
    assert!(
        problems(&misspelt, &page)
            .iter()
            .any(|p| p.contains("deskbot_escalation_total is not served")),
        "{:?}",
        problems(&misspelt, &page)
    );
}

/// Polls `/metrics` until `series` has moved above 0; fails naming it after a minute.
async fn counted(addr: std::net::SocketAddr, series: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = scrape(addr).await;
        if value(&page, series) > 0.0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} never counted: {page:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `text` from user `chat` in their private chat; returns once the bot answered it.
async fn say(fake: &fake::FakeTelegram, chat: i64, text: &str) {
    let before = fake.sent_to(chat).len();
    let user = u64::try_from(chat).unwrap();
    fake.push_text(chat, user, text);
    fake.wait_for(text, Duration::from_secs(60), |f| {
        f.sent_to(chat).len() > before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_served_by_deskbot_run() {
    let fake = fake::FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Flood control at 4 messages in 10 s, so one user can be dropped quickly.
    let bot = RunningDeskbot::start(
        &fake,
        dir.path(),
        "[flood]\nmax_messages = 4\nmute_secs = 60\n",
    )
    .await;
    let addr = bot.addr;
    let scenario = async {
        let before = get(addr, "/metrics").await.2;
        assert!(
            problems(DASHBOARD, &before)
                .iter()
                .any(|p| p.contains("not served"))
        );
        let l = "{channel=\"telegram\"}";
        // A turn with an intent, a guide that fixed the problem, an escalation.
        say(&fake, 42, "forgot my pasword and now i cant get in").await;
        say(&fake, 42, "nope didnt help").await;
        say(&fake, 42, "ok that did it, im in now thanks").await;
        counted(addr, &format!("deskbot_resolutions_total{l}")).await;
        say(&fake, 43, "i want to talk to a human now").await;
        counted(addr, &format!("deskbot_escalations_total{l}")).await;
        // A reply Telegram accepts with an answer teloxide cannot read.
        fake.unreadable("sendMessage", 1);
        say(&fake, 44, "sms code never comes").await;
        counted(
            addr,
            "deskbot_platform_unparsed_answers_total{channel=\"telegram\",method=\"sendMessage\"}",
        )
        .await;
        // An update that cannot be read.
        fake.push_anonymous_reaction(44, 1);
        counted(addr, &format!("deskbot_updates_skipped_total{l}")).await;
        // A user over the flood limit.
        for i in 0..5 {
            fake.push_text(45, 45, &format!("hello?? {i}"));
        }
        counted(
            addr,
            "deskbot_messages_dropped_total{channel=\"telegram\",reason=\"flood\"}",
        )
        .await;
        // A reply Telegram refuses for good: parked as a dead letter.
        fake.fault_chat(
            46,
            fake::Fault::Refused("Bad Request: a refusal this version does not know".into()),
        );
        fake.push_text(46, 46, "cant sign in");
        counted(addr, &format!("deskbot_dead_letters_total{l}")).await;
        // Bot API calls that fail: another deployment set a webhook, so polling is refused
        // until it is gone again.
        fake.set_webhook("https://elsewhere.example/hook");
        counted(addr, "deskbot_errors_total{kind=\"telegram_api\"}").await;
        fake.set_webhook("");

        let page = get(addr, "/metrics").await.2;
        let found = problems(DASHBOARD, &page);
        assert!(found.is_empty(), "{found:#?}\n/metrics:\n{page}");
        // Every metric the dashboard reads had samples, so its labels were checked too.
        let metrics = exposed(&page);
        let read = metrics_read(DASHBOARD);
        assert!(read.len() >= 12, "{read:?}");
        for name in &read {
            assert!(
                metrics.get(name).is_some_and(|s| s.sampled),
                "{name} has no sample:\n{page}"
            );
        }
        assert_eq!(value(&samples(&page), "deskbot_open_tickets"), 1.0);
        // The first page, before any message, had none of the labelled counters: the events
        // above are what made them appear.
        assert!(!before.contains("deskbot_escalations_total"), "{before}");
    };
    tokio::time::timeout(HANG_GUARD, scenario)
        .await
        .unwrap_or_else(|_| panic!("hang guard; log:\n{}", bot.log()));
    bot.stop().await;
}
