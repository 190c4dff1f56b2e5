//! The subset of Foreman's scoped-search syntax that admins use on locks, and `order`.
//!
//! `name = x`, `name != x`, `name ~ x`, `name !~ x` (likewise `host` and `type`),
//! `enabled = true|false`, `locked = true|false`, `stale = true|false`, `full = true|false`,
//! `holders <op> N` (`=`, `!=`, `<`, `<=`, `>`, `>=`), and a bare word (name contains it), joined
//! with `and`. Anything else is refused with a message, never ignored.

use chrono::NaiveDateTime;

/// A text comparison as Foreman's scoped search offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Equals(String),
    NotEquals(String),
    Contains(String),
    NotContains(String),
}

/// One condition of a lock search; conditions are joined with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockFilter {
    Name(TextMatch),
    /// The holder's host name.
    Host(TextMatch),
    Type(TextMatch),
    Enabled(bool),
    Locked(bool),
    /// A holder has not refreshed for `ListQuery::stale_hours`.
    Stale(bool),
    /// How many hosts hold the lock now.
    Holders(Comparison, i64),
    /// As many holders as `max_holders` allows.
    Full(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    pub fn sql(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::NotEqual => "<>",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    Name,
    Type,
    Enabled,
    Host,
    CreatedAt,
    UpdatedAt,
}

/// A parsed index request, as storage runs it.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filters: Vec<LockFilter>,
    pub sort: SortField,
    pub descending: bool,
    /// None: all rows.
    pub limit: Option<i64>,
    pub offset: i64,
    pub stale_hours: u32,
    /// The test clock, if one is set.
    pub clock: Option<NaiveDateTime>,
}

/// A search or order the service does not understand; the text is for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

const FIELDS: &str = "name, host, type, enabled, locked, stale, full, holders";

/// Parses a search of at most `max_chars` characters and `max_conditions` conditions
/// (`limits.search_*`): each condition costs the database work on every lock it reads.
pub fn parse_search(
    search: &str,
    max_conditions: usize,
    max_chars: usize,
) -> Result<Vec<LockFilter>, QueryError> {
    let chars = search.chars().count();
    if chars > max_chars {
        return Err(QueryError(format!(
            "search is too long: {chars} characters, at most {max_chars} (limits.search_chars)"
        )));
    }
    let tokens = tokenize(search)?;
    let mut filters = Vec::new();
    let mut rest = tokens.as_slice();
    loop {
        let (filter, after) = parse_condition(rest)?;
        filters.push(filter);
        if filters.len() > max_conditions {
            return Err(QueryError(format!(
                "search has more than {max_conditions} conditions (limits.search_conditions)"
            )));
        }
        rest = after;
        match rest.split_first() {
            None => return Ok(filters),
            Some((Token::Word(word), after))
                if word.eq_ignore_ascii_case("and") || word == "&&" =>
            {
                if after.is_empty() {
                    return Err(QueryError("search ends with 'and'".into()));
                }
                rest = after;
            }
            Some((Token::Word(word), _)) if word.eq_ignore_ascii_case("or") || word == "||" => {
                return Err(QueryError(
                    "'or' is not supported in searches; join conditions with 'and'".into(),
                ))
            }
            Some((token, _)) => {
                return Err(QueryError(format!(
                    "expected 'and' before {}",
                    token.describe()
                )))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Operator(&'static str),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) | Token::Quoted(w) => format!("'{w}'"),
            Token::Operator(o) => format!("'{o}'"),
        }
    }
}

fn tokenize(search: &str) -> Result<Vec<Token>, QueryError> {
    // PostgreSQL text cannot hold NUL, and no name holds a control character: refused here,
    // before anything reaches SQL.
    if search.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(QueryError(
            "search must not contain control characters".into(),
        ));
    }
    // Longest first, so that `<=` is not read as `<` and `=`.
    const OPERATORS: [&str; 10] = ["!=", "!~", "<>", "<=", ">=", "=", "~", "^", "<", ">"];
    let mut tokens = Vec::new();
    let mut chars = search.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, q)) if q == c => break,
                    Some((_, ch)) => value.push(ch),
                    None => return Err(QueryError("unterminated quote in search".into())),
                }
            }
            tokens.push(Token::Quoted(value));
            continue;
        }
        if let Some(op) = OPERATORS.iter().find(|op| search[at..].starts_with(**op)) {
            for _ in 0..op.chars().count() {
                chars.next();
            }
            tokens.push(Token::Operator(op));
            continue;
        }
        let mut word = String::new();
        while let Some(&(i, ch)) = chars.peek() {
            if ch.is_whitespace()
                || ch == '"'
                || ch == '\''
                || OPERATORS.iter().any(|op| search[i..].starts_with(*op))
            {
                break;
            }
            word.push(ch);
            chars.next();
        }
        tokens.push(Token::Word(word));
    }
    if tokens.is_empty() {
        return Err(QueryError("empty search".into()));
    }
    Ok(tokens)
}

fn parse_condition(tokens: &[Token]) -> Result<(LockFilter, &[Token]), QueryError> {
    match tokens {
        [Token::Word(field), Token::Operator(op), value, rest @ ..] => {
            let value = match value {
                Token::Word(v) | Token::Quoted(v) => v.clone(),
                Token::Operator(o) => {
                    return Err(QueryError(format!(
                        "missing value after '{op}' (found '{o}')"
                    )))
                }
            };
            Ok((condition(field, op, value)?, rest))
        }
        [Token::Word(field), Token::Operator(op)] => {
            Err(QueryError(format!("missing value after '{field} {op}'")))
        }
        [Token::Word(word) | Token::Quoted(word), rest @ ..] => {
            Ok((LockFilter::Name(TextMatch::Contains(word.clone())), rest))
        }
        [Token::Operator(op), ..] => Err(QueryError(format!("search cannot start with '{op}'"))),
        [] => Err(QueryError("empty search".into())),
    }
}

fn condition(field: &str, op: &str, value: String) -> Result<LockFilter, QueryError> {
    let field = field.to_ascii_lowercase();
    let text = |op: &str, value: String| -> Result<TextMatch, QueryError> {
        match op {
            "=" => Ok(TextMatch::Equals(value)),
            "!=" | "<>" => Ok(TextMatch::NotEquals(value)),
            "~" => Ok(TextMatch::Contains(value)),
            "!~" => Ok(TextMatch::NotContains(value)),
            other => Err(QueryError(format!(
                "operator '{other}' is not supported for {field}; use =, !=, ~ or !~"
            ))),
        }
    };
    let boolean = |op: &str, value: &str| -> Result<bool, QueryError> {
        let parsed = match value.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => true,
            "false" | "f" | "no" | "0" => false,
            _ => {
                return Err(QueryError(format!(
                    "{field} must be true or false, not '{value}'"
                )))
            }
        };
        match op {
            "=" => Ok(parsed),
            "!=" | "<>" => Ok(!parsed),
            other => Err(QueryError(format!(
                "operator '{other}' is not supported for {field}; use = or !="
            ))),
        }
    };
    Ok(match field.as_str() {
        "name" => LockFilter::Name(text(op, value)?),
        "host" => LockFilter::Host(text(op, value)?),
        "type" => LockFilter::Type(text(op, value)?),
        "enabled" => LockFilter::Enabled(boolean(op, &value)?),
        "locked" => LockFilter::Locked(boolean(op, &value)?),
        "stale" => LockFilter::Stale(boolean(op, &value)?),
        "full" => LockFilter::Full(boolean(op, &value)?),
        "holders" => {
            let comparison = match op {
                "=" => Comparison::Equal,
                "!=" | "<>" => Comparison::NotEqual,
                "<" => Comparison::Less,
                "<=" => Comparison::LessOrEqual,
                ">" => Comparison::Greater,
                ">=" => Comparison::GreaterOrEqual,
                other => {
                    return Err(QueryError(format!(
                        "operator '{other}' is not supported for holders; use =, !=, <, <=, > or >="
                    )))
                }
            };
            let count = value.parse::<u32>().map_err(|_| {
                QueryError(format!(
                    "holders must be compared with a whole number, not '{value}'"
                ))
            })?;
            LockFilter::Holders(comparison, i64::from(count))
        }
        other => {
            return Err(QueryError(format!(
                "unknown search field '{other}'; known fields: {FIELDS}"
            )))
        }
    })
}

/// `order=name DESC` → (field, descending). Default: name ascending, as the plugin.
pub fn parse_order(order: &str) -> Result<(SortField, bool), QueryError> {
    let mut words = order.split_whitespace();
    let field = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None => return Ok((SortField::Name, false)),
        Some("id") => SortField::Id,
        Some("name") => SortField::Name,
        Some("type") => SortField::Type,
        Some("enabled") => SortField::Enabled,
        Some("host") => SortField::Host,
        Some("created_at") => SortField::CreatedAt,
        Some("updated_at") => SortField::UpdatedAt,
        Some(other) => {
            return Err(QueryError(format!(
                "cannot order by '{other}'; use id, name, type, enabled, host, created_at or \
                 updated_at"
            )))
        }
    };
    let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(QueryError(format!(
                "order direction must be ASC or DESC, not '{other}'"
            )))
        }
    };
    if words.next().is_some() {
        return Err(QueryError(
            "order takes a field and an optional direction".into(),
        ));
    }
    Ok((field, descending))
}

#[cfg(test)]
mod tests;
