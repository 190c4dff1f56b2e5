//! The status page's HTML: semantic markup that works without JavaScript and with the keyboard.
//! maud escapes every value; nothing here builds HTML from strings.

use chrono::NaiveDateTime;
use maud::{html, Markup, DOCTYPE};

use crate::locks::model::{Halt, Holder, Lock, LockEvent, Page};
use crate::locks::name::printable;
use crate::locks::overview::Waiting;

/// Who is looking, and what they may do.
pub struct Viewer<'a> {
    pub login: &'a str,
    pub csrf: &'a str,
    pub can_edit: bool,
    pub can_read_events: bool,
    pub now: NaiveDateTime,
    pub stale_after: chrono::Duration,
}

impl Viewer<'_> {
    fn stale(&self, holder: &Holder) -> bool {
        holder.refreshed_at < self.now - self.stale_after
    }
}

pub(super) fn utc(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(from: NaiveDateTime, to: NaiveDateTime) -> String {
    let minutes = (to - from).num_minutes().max(0);
    match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m:02} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The plugin's event names, as an admin reads them; a refusal's host is the holder then.
fn event_label(event_type: Option<&str>) -> &str {
    match event_type {
        Some("acquire") => "acquired",
        Some("release") => "released",
        Some("fail") => "refused (host: the holder)",
        Some("expire") => "lease expired",
        Some("halt") => "halted",
        Some("resume") => "resumed",
        Some(other) => other,
        None => "?",
    }
}

fn layout(title: &str, viewer: Option<&Viewer<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Foreman DLM" }
                link rel="stylesheet" href="/dlm/static/style.css";
                script src="/dlm/static/refresh.js" defer {}
            }
            body {
                header {
                    h1 { a href="/dlm" { "Foreman distributed locks" } }
                    @if let Some(viewer) = viewer {
                        div {
                            span { "Signed in as " strong { (viewer.login) } " " }
                            form.inline method="post" action="/dlm/logout" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(message: Option<&str>, login: &str) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h2 { "Sign in with your Foreman account" }
            @if let Some(message) = message {
                p.error role="alert" { (message) }
            }
            form method="post" action="/dlm/login" {
                label for="login" { "Username" }
                input #login type="text" name="login" value=(login) autocomplete="username"
                    required autofocus;
                label for="password" { "Password or personal access token" }
                input #password type="password" name="password"
                    autocomplete="current-password" required;
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

pub fn problem(status: u16, message: &str, signed_in: bool) -> Markup {
    layout(
        "Problem",
        None,
        html! {
            h2 { "Something stopped this request (" (status) ")" }
            p.error role="alert" { (message) }
            p {
                @if signed_in { a href="/dlm" { "Back to the locks" } }
                @else { a href="/dlm/login" { "Sign in" } }
            }
        },
    )
}

fn holder_actions(viewer: &Viewer<'_>, lock: &Lock, holder: &Holder, back: &str) -> Markup {
    let label = format!(
        "Release {} from {}",
        printable(&holder.name),
        printable(&lock.name)
    );
    html! {
        @if viewer.can_edit {
            form.inline method="post"
                action=(format!("/dlm/locks/{}/holders/{}/release", lock.id, holder.host_id)) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="back" value=(back);
                button type="submit" aria-label=(label) { "Release" }
            }
        }
    }
}

fn switch(viewer: &Viewer<'_>, lock: &Lock, back: &str) -> Markup {
    let (action, label) = if lock.enabled {
        ("disable", "Disable")
    } else {
        ("enable", "Enable")
    };
    html! {
        @if viewer.can_edit {
            form.inline method="post" action=(format!("/dlm/locks/{}/{action}", lock.id)) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="back" value=(back);
                button type="submit" aria-label=(format!("{label} {}", printable(&lock.name))) {
                    (label)
                }
            }
        }
    }
}

/// Enabled or disabled, and the button that switches it.
fn state(viewer: &Viewer<'_>, lock: &Lock, back: &str) -> Markup {
    html! {
        @if lock.enabled { "enabled" } @else { span.disabled { "disabled" } }
        " " (switch(viewer, lock, back))
        (super::halts::lock_control(viewer, lock, back))
    }
}

fn history_page(lock: &Lock, page: i64) -> String {
    format!("/dlm/locks/{}?page={page}", lock.id)
}

fn policy(lock: &Lock) -> Markup {
    html! {
        ul.plain {
            li { (lock.policy.max_holders) " at a time" }
            li {
                @match lock.policy.lease_seconds {
                    Some(seconds) => { "lease " (seconds) " s" },
                    None => span.muted { "no lease" },
                }
            }
            @for window in &lock.policy.windows { li { "window " (window.to_string()) } }
            @if lock.policy.cooldown_seconds > 0 {
                li { "cooldown " (lock.policy.cooldown_seconds) " s" }
            }
            @if let Some(expression) = &lock.policy.block_on_alerts {
                li { "gate " code { (printable(expression)) } }
            }
        }
    }
}

fn holders(viewer: &Viewer<'_>, lock: &Lock, back: &str) -> Markup {
    html! {
        @if lock.holders.is_empty() { span.muted { "free" } }
        ul.plain {
            @for holder in &lock.holders {
                @let held = format!(
                    "{} — {}",
                    printable(&holder.name),
                    duration(holder.acquired_at, viewer.now)
                );
                li {
                    @if viewer.stale(holder) {
                        span.stale title="not refreshed for longer than the stale time" {
                            (held) " (stale)"
                        }
                    } @else {
                        (held)
                    }
                    " " (holder_actions(viewer, lock, holder, back))
                }
            }
        }
    }
}

/// One page of the list: its locks, how many the search found in all, and where it is.
pub struct ListPage<'a> {
    pub locks: &'a Page<Lock>,
    pub waiting: &'a [Waiting],
    /// The fleet-wide halt, if every lock is halted.
    pub fleet: Option<&'a Halt>,
    pub search: &'a str,
    pub page: i64,
    pub per_page: i64,
}

impl ListPage<'_> {
    fn link(&self, page: i64) -> String {
        let page = page.to_string();
        let query = serde_urlencoded::to_string([("search", self.search), ("page", &page)])
            .unwrap_or_else(|_| format!("page={page}"));
        format!("/dlm?{query}")
    }
}

pub fn list(viewer: &Viewer<'_>, listed: &ListPage<'_>) -> Markup {
    let (locks, waiting, search) = (&listed.locks.items, listed.waiting, listed.search);
    let first = (listed.page - 1) * listed.per_page + 1;
    layout(
        "Locks",
        Some(viewer),
        html! {
            h2 { "Locks" }
            (super::halts::fleet_control(viewer, listed.fleet))
            form role="search" method="get" action="/dlm" {
                label for="search" { "Search (the API's syntax, e.g. " code { "holders > 0" } ")" }
                input #search type="search" name="search" value=(search);
                " " button type="submit" { "Search" }
            }
            p #auto-refresh hidden {
                label {
                    input #auto-refresh-on type="checkbox" checked;
                    " Refresh every 30 seconds"
                }
            }
            table {
                caption.muted {
                    @if locks.is_empty() { "no locks" }
                    @else {
                        "locks " (first) "–" (first - 1 + locks.len() as i64) " of "
                        (listed.locks.total)
                    }
                    "; times in UTC"
                }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "State" }
                    th scope="col" { "Holders (held for)" } th scope="col" { "Slots" }
                    th scope="col" { "Policy" } th scope="col" { "Waiting" }
                } }
                tbody {
                    @for lock in locks {
                        tr {
                            th scope="row" {
                                a href=(format!("/dlm/locks/{}", lock.id)) {
                                    (printable(&lock.name))
                                }
                            }
                            td { (state(viewer, lock, "list")) }
                            td { (holders(viewer, lock, "list")) }
                            td { (lock.holders.len()) " / " (lock.policy.max_holders) }
                            td { (policy(lock)) }
                            td {
                                ul.plain {
                                    @for w in waiting.iter().filter(|w| w.lock_id == lock.id) {
                                        li {
                                            (printable(&w.host)) " "
                                            span.muted {
                                                "(" (w.reason) ", "
                                                (duration(w.refused_at, viewer.now)) " ago)"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav.pages aria-label="Lock pages" {
                @if listed.page > 1 {
                    a href=(listed.link(listed.page - 1)) rel="prev" { "Previous" }
                }
                @if listed.page * listed.per_page < listed.locks.total {
                    a href=(listed.link(listed.page + 1)) rel="next" { "Next" }
                }
            }
        },
    )
}

pub fn lock(
    viewer: &Viewer<'_>,
    lock: &Lock,
    events: Option<&Page<LockEvent>>,
    page: i64,
    per_page: i64,
) -> Markup {
    let back = format!("lock:{}", lock.id);
    layout(
        &printable(&lock.name),
        Some(viewer),
        html! {
            h2 { "Lock " (printable(&lock.name)) }
            dl {
                dt { "State" }
                dd { (state(viewer, lock, &back)) }
                dt { "Holders" } dd { (holders(viewer, lock, &back)) }
                dt { "Policy" } dd { (policy(lock)) }
            }
            @if let Some(events) = events {
                h3 { "History" }
                table {
                    caption.muted { (events.total) " event(s), newest first" }
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "What" }
                        th scope="col" { "Host" } th scope="col" { "By user" }
                    } }
                    tbody {
                        @for event in &events.items {
                            tr {
                                td { (utc(event.created_at)) }
                                td { (event_label(event.event_type.as_deref())) }
                                td { (printable(event.host_name.as_deref().unwrap_or("—"))) }
                                td { (event.user_login.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
                nav.pages aria-label="History pages" {
                    @if page > 1 {
                        a href=(history_page(lock, page - 1)) rel="prev" { "Newer" }
                    }
                    @if page * per_page < events.total {
                        a href=(history_page(lock, page + 1)) rel="next" { "Older" }
                    }
                }
            } @else {
                p.muted { "Seeing the history needs the view_dlmlock_events permission." }
            }
        },
    )
}
