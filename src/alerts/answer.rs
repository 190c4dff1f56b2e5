//! Reading Prometheus's answer to an instant query.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::promql::{is_invisible, promql_string};
use super::Verdict;

/// Reasons one answer may list; a storm of alerts needs no more to be understood.
const MOST_REASONS: usize = 20;
/// Characters kept of one reason, or of Prometheus's own error text.
const MOST_CHARS: usize = 200;

#[derive(Deserialize)]
struct Reply {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// One sample of an instant vector; its value (or native histogram) does not matter.
#[derive(Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
}

/// What an answer says (`status` is the HTTP status, `body` what came with it), or why it says
/// nothing usable (the caller reports that as a block: the gate fails closed).
///
/// Any sample blocks, whatever its value, as kured does with `ALERTS`: an expression says
/// "block" by returning a series, and PromQL's comparisons (`> 0`) already drop the series that
/// do not match, so a sample of value 0 is one the expression chose to keep.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Verdict, String> {
    let reply = serde_json::from_slice::<Reply>(body);
    if !(200..300).contains(&status) {
        return Err(match reply.ok().and_then(|reply| reply.error) {
            Some(error) => format!("HTTP {status}: {}", plain(&error, MOST_CHARS)),
            None => format!("HTTP {status}"),
        });
    }
    let reply = reply.map_err(|e| format!("the answer is not Prometheus's JSON: {e}"))?;
    if reply.status != "success" {
        let error = reply.error.unwrap_or_default();
        return Err(format!(
            "status {}: {}",
            plain(&reply.status, 40),
            plain(&error, MOST_CHARS)
        ));
    }
    let data = reply
        .data
        .ok_or_else(|| "the answer has no data".to_owned())?;
    if data.result_type != "vector" {
        return Err(format!(
            "the expression gives a {}, not an instant vector",
            plain(&data.result_type, 40)
        ));
    }
    let samples = serde_json::from_value::<Vec<Sample>>(data.result)
        .map_err(|e| format!("the answer's vector is not Prometheus's: {e}"))?;
    if samples.is_empty() {
        return Ok(Verdict::Pass);
    }
    Ok(Verdict::Blocked(reasons(samples.iter().map(name))))
}

/// An alert by its name; any other series as Prometheus shows it, `name{k="v",…}`.
fn name(sample: &Sample) -> String {
    if let Some(alert) = sample.metric.get("alertname").filter(|a| !a.is_empty()) {
        return plain(alert, MOST_CHARS);
    }
    let metric = sample.metric.get("__name__").map_or("", String::as_str);
    let labels: Vec<String> = sample
        .metric
        .iter()
        .filter(|(label, _)| *label != "__name__")
        .map(|(label, value)| format!("{}={}", plain(label, 80), promql_string(value)))
        .collect();
    let shown = if labels.is_empty() && !metric.is_empty() {
        metric.to_owned()
    } else {
        format!("{metric}{{{}}}", labels.join(","))
    };
    plain(&shown, MOST_CHARS)
}

/// Names without repeats, in the order Prometheus gave them, at most [`MOST_REASONS`].
fn reasons(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for name in names {
        if !distinct.contains(&name) {
            distinct.push(name);
        }
    }
    if distinct.len() > MOST_REASONS {
        let more = distinct.len() - MOST_REASONS;
        distinct.truncate(MOST_REASONS);
        distinct.push(format!("… and {more} more"));
    }
    distinct
}

/// `text` fit to be shown to a host and logged: control and invisible characters are dropped
/// (line breaks become spaces), and at most `most` characters are kept. Prometheus's error
/// quotes the expression, and through it the lock's name, which hosts choose.
pub(super) fn plain(text: &str, most: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(most * 4));
    for (count, c) in text
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .enumerate()
    {
        if count == most {
            shown.push('…');
            break;
        }
        shown.push(c);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(samples: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{samples}]}}}}"#)
    }

    fn alert(name: &str) -> String {
        format!(
            r#"{{"metric":{{"__name__":"ALERTS","alertname":"{name}","alertstate":"firing"}},
                "value":[1700000000.5,"1"]}}"#
        )
    }

    fn blocked(status: u16, body: &str) -> Vec<String> {
        match parse_answer(status, body.as_bytes()) {
            Ok(Verdict::Blocked(reasons)) => reasons,
            other => panic!("not blocked: {other:?}"),
        }
    }

    #[test]
    fn an_empty_vector_passes() {
        assert_eq!(parse_answer(200, vector("").as_bytes()), Ok(Verdict::Pass));
        let with_warnings = r#"{"status":"success","warnings":["w"],
            "data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            parse_answer(200, with_warnings.as_bytes()),
            Ok(Verdict::Pass)
        );
    }

    #[test]
    fn alerts_block_by_name_once_each() {
        let samples = [alert("NodeDown"), alert("DiskFull"), alert("NodeDown")].join(",");
        assert_eq!(blocked(200, &vector(&samples)), ["NodeDown", "DiskFull"]);
    }

    #[test]
    fn any_sample_blocks_whatever_its_value() {
        let zero = r#"{"metric":{"__name__":"up","job":"node"},"value":[1.0,"0"]}"#;
        assert_eq!(blocked(200, &vector(zero)), [r#"up{job="node"}"#]);
    }

    #[test]
    fn other_series_are_shown_with_sorted_labels() {
        let samples = [
            r#"{"metric":{"zone":"b","__name__":"x","a":"q\"1"},"value":[1,"1"]}"#,
            r#"{"metric":{},"value":[1,"1"]}"#,
            r#"{"metric":{"__name__":"up"},"value":[1,"1"]}"#,
            r#"{"metric":{"job":"a\nb"},"histogram":[1,{"count":"1"}]}"#,
        ]
        .join(",");
        assert_eq!(
            blocked(200, &vector(&samples)),
            [r#"x{a="q\"1",zone="b"}"#, "{}", "up", r#"{job="a\nb"}"#]
        );
    }

    #[test]
    fn many_alerts_are_cut_short() {
        let samples: Vec<String> = (0..25).map(|n| alert(&format!("A{n}"))).collect();
        let reasons = blocked(200, &vector(&samples.join(",")));
        assert_eq!(reasons.len(), 21);
        assert_eq!(reasons[19], "A19");
        assert_eq!(reasons[20], "… and 5 more");
    }

    #[test]
    fn a_matrix_is_refused() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let why = parse_answer(200, matrix.as_bytes()).unwrap_err();
        assert!(why.contains("matrix"), "{why}");
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        assert!(parse_answer(200, scalar.as_bytes()).is_err());
    }

    #[test]
    fn prometheus_errors_are_quoted_plainly() {
        let body = r#"{"status":"error","errorType":"bad_data",
            "error":"1:3: parse error:\nunexpected \"\u001b[31m\""}"#;
        assert_eq!(
            parse_answer(400, body.as_bytes()),
            Err(r#"HTTP 400: 1:3: parse error: unexpected "[31m""#.to_owned())
        );
        let long = format!(r#"{{"status":"error","error":"{}"}}"#, "e".repeat(500));
        let why = parse_answer(422, long.as_bytes()).unwrap_err();
        assert!(why.chars().count() < 220 && why.ends_with('…'), "{why}");
        assert_eq!(
            parse_answer(503, b"<html>busy</html>"),
            Err("HTTP 503".to_owned())
        );
        let error_in_200 = r#"{"status":"error","error":"boom"}"#;
        assert_eq!(
            parse_answer(200, error_in_200.as_bytes()),
            Err("status error: boom".to_owned())
        );
    }

    #[test]
    fn garbage_is_refused() {
        for body in [
            &b"<html>proxy login</html>"[..],
            b"",
            b"{}",
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"x":1}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
            b"\xff\xfe",
        ] {
            assert!(parse_answer(200, body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn plain_text_keeps_its_words() {
        assert_eq!(plain("a\u{202e}b\u{7}c\td", 10), "abc d");
        assert_eq!(plain("abcdef", 3), "abc…");
        assert_eq!(plain("abc", 3), "abc");
    }
}
