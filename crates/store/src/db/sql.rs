//! A statement and its arguments, written once for both databases, and run on either.
//!
//! [`query`], [`query_as`] and [`query_scalar`] read like their `sqlx` namesakes: bind values,
//! then `execute` or `fetch_*` on a [`Db`](super::Db) (a pooled connection per statement) or a
//! [`Tx`](super::Tx). Arguments are kept as [`Arg`]s, values both backends encode the same way,
//! and turned into each backend's arguments only when the statement runs; rows decode through
//! `sqlx::FromRow`, which a row type derives for both ([`Record`]). Statements over many rows
//! grow at run time with [`Sql::push`], [`Sql::push_bind`], [`Sql::push_in`] and
//! [`Sql::push_values`], which number their parameters `$n` like the written ones.

use std::borrow::Cow;
use std::marker::PhantomData;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments as _, AssertSqlSafe, FromRow, Postgres, Sqlite};
use uuid::Uuid;

use super::{Conn, On};
use crate::StoreError;

/// A row type both backends decode (`#[derive(sqlx::FromRow)]` over shared column types).
pub(crate) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// A single column's type both backends decode.
pub(crate) trait Scalar:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
    + 'static
{
}
impl<T> Scalar for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
        + 'static
{
}

/// A bound value, in a type both backends encode identically (the columns hold only these).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Uuid(Option<Uuid>),
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
    /// PostgreSQL only (`= ANY($n)`).
    Uuids(Vec<Uuid>),
}

macro_rules! arg_from {
    ($variant:ident: $($ty:ty => $convert:expr),+ $(,)?) => {$(
        impl From<$ty> for Arg {
            fn from(value: $ty) -> Self {
                let convert: fn($ty) -> _ = $convert;
                Arg::$variant(convert(value))
            }
        }
    )+};
}

arg_from!(Uuid: Uuid => Some, Option<Uuid> => |v| v, &Uuid => |v| Some(*v), &Option<Uuid> => |v| *v);
arg_from!(Int:
    i64 => Some, Option<i64> => |v| v, &i64 => |v| Some(*v), &Option<i64> => |v| *v,
    i32 => |v| Some(v.into()), u32 => |v| Some(v.into()), Option<u32> => |v| v.map(Into::into),
);
arg_from!(Text:
    String => Some, &String => |v| Some(v.clone()), &str => |v| Some(v.to_owned()),
    Option<String> => |v| v, Option<&str> => |v| v.map(str::to_owned),
    &Option<String> => Clone::clone,
);
arg_from!(Bytes:
    Vec<u8> => Some, &Vec<u8> => |v| Some(v.clone()), &[u8] => |v| Some(v.to_vec()),
    Option<Vec<u8>> => |v| v, Option<&[u8]> => |v| v.map(<[u8]>::to_vec),
);
arg_from!(Bool: bool => Some, Option<bool> => |v| v);
arg_from!(Uuids: Vec<Uuid> => |v| v);

impl Arg {
    fn add_sqlite(self, args: &mut SqliteArguments) -> Result<(), BoxDynError> {
        match self {
            Arg::Uuid(v) => args.add(v),
            Arg::Int(v) => args.add(v),
            Arg::Text(v) => args.add(v),
            Arg::Bytes(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
            Arg::Uuids(_) => Err("an array argument is PostgreSQL only".into()),
        }
    }

    fn add_postgres(self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        match self {
            Arg::Uuid(v) => args.add(v),
            Arg::Int(v) => args.add(v),
            Arg::Text(v) => args.add(v),
            Arg::Bytes(v) => args.add(v),
            Arg::Bool(v) => args.add(v),
            Arg::Uuids(v) => args.add(v),
        }
    }
}

/// What a statement's rows are read as: nothing, whole rows, or one column.
pub(crate) struct Rows<R>(PhantomData<fn() -> R>);
/// One column per row.
pub(crate) struct Values<T>(PhantomData<fn() -> T>);

/// A statement with its arguments; `O` says how its rows are read.
#[must_use = "a statement does nothing until it is executed or fetched"]
pub(crate) struct Sql<O = ()> {
    text: Cow<'static, str>,
    args: Vec<Arg>,
    /// Parameters were appended at run time (see [`Sql::text_for_sqlite`]).
    grown: bool,
    out: PhantomData<fn() -> O>,
}

/// A statement whose rows (if any) are not read.
pub(crate) fn query(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
        grown: false,
        out: PhantomData,
    }
}

/// A statement read as rows of `R`.
pub(crate) fn query_as<R: Record>(text: impl Into<Cow<'static, str>>) -> Sql<Rows<R>> {
    query(text).rows()
}

/// A statement read as one column of `T`.
pub(crate) fn query_scalar<T: Scalar>(text: impl Into<Cow<'static, str>>) -> Sql<Values<T>> {
    query(text).values()
}

/// What an `execute` changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Executed(u64);

impl Executed {
    pub(crate) fn rows_affected(self) -> u64 {
        self.0
    }
}

impl<O> Sql<O> {
    /// Binds the next `$n` written in the text.
    pub(crate) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.to_mut().push_str(text);
        self
    }

    /// Appends a parameter `$n` bound to `value`.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        let n = self.args.len();
        self.grown = true;
        self.text.to_mut().push_str(&format!("${n}"));
        self
    }

    /// Appends ` IN ($a, $b, …)` over `values` (at least one).
    pub(crate) fn push_in<T: Into<Arg>>(
        &mut self,
        values: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        self.push(" IN (");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self.push(")")
    }

    /// Appends `VALUES (…), (…)`: one tuple per item, whose values `row` binds in order.
    pub(crate) fn push_values<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Tuple<'_, O>, T),
    ) -> &mut Self {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            row(
                &mut Tuple {
                    sql: self,
                    first: true,
                },
                item,
            );
            self.push(")");
        }
        self
    }

    /// The same statement, read as rows of `R`.
    pub(crate) fn rows<R: Record>(self) -> Sql<Rows<R>> {
        Sql {
            text: self.text,
            args: self.args,
            grown: self.grown,
            out: PhantomData,
        }
    }

    /// The same statement, read as one column of `T`.
    pub(crate) fn values<T: Scalar>(self) -> Sql<Values<T>> {
        Sql {
            text: self.text,
            args: self.args,
            grown: self.grown,
            out: PhantomData,
        }
    }

    /// The text as SQLite should read it. SQLite takes `$1` as a parameter *named* "$1": it
    /// looks each new name up among the statement's earlier ones when preparing it, and looks
    /// each number's name up again when a value is bound, so a statement with thousands of
    /// parameters (a batch's multi-row `VALUES`) cost quadratic time twice over. A plain `?`
    /// has no name and takes the next number. Only grown statements carry that many: when their
    /// parameters appear in the text as `$1`, `$2`, … in order, each once, they become `?`;
    /// otherwise (a number repeated or out of order) `?N`, the same parameter by number. No
    /// statement of ours has a `$` outside a parameter.
    fn text_for_sqlite(text: Cow<'static, str>, grown: bool) -> Cow<'static, str> {
        if !grown {
            return text;
        }
        let placeholders = parameters(&text);
        let in_order = placeholders
            .iter()
            .enumerate()
            .all(|(i, &(_, _, n))| n == i + 1);
        let mut out = String::with_capacity(text.len());
        push_renamed(&mut out, &text, placeholders, |out, n| {
            if in_order {
                out.push('?');
            } else {
                out.push_str(&format!("?{n}"));
            }
        });
        Cow::Owned(out)
    }

    /// The statement's text and arguments for the backend of `conn`.
    fn parts_for(self, conn: &Conn<'_>) -> (AssertSqlSafe<Cow<'static, str>>, Vec<Arg>) {
        let text = match conn {
            Conn::Sqlite(_) => Self::text_for_sqlite(self.text, self.grown),
            Conn::Postgres(_) => self.text,
        };
        (AssertSqlSafe(text), self.args)
    }

    /// Runs the statement; how many rows it changed.
    pub(crate) async fn execute(self, on: impl Into<On<'_>>) -> Result<Executed, sqlx::Error> {
        let conn = on.into().conn().await?;
        let (text, args) = self.parts_for(&conn);
        let done = match conn {
            Conn::Sqlite(mut c) => sqlx::query_with(text, sqlite(args)?)
                .execute(c.as_mut())
                .await?
                .rows_affected(),
            Conn::Postgres(mut c) => sqlx::query_with(text, postgres(args)?)
                .execute(c.as_mut())
                .await?
                .rows_affected(),
        };
        Ok(Executed(done))
    }
}

/// One tuple of [`Sql::push_values`].
pub(crate) struct Tuple<'s, O> {
    sql: &'s mut Sql<O>,
    first: bool,
}

impl<O> Tuple<'_, O> {
    /// The tuple's next value.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.separate();
        self.sql.push_bind(value);
        self
    }

    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.sql.push(", ");
        }
    }
}

/// Each `$N` of `text`: where it starts, where it ends, and `N`.
fn parameters(text: &str) -> Vec<(usize, usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = text.get(at..).and_then(|rest| rest.find('$')) {
        let start = at + offset;
        let digits = bytes.get(start + 1..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        });
        let end = start + 1 + digits;
        if let Some(n) = text.get(start + 1..end).and_then(|n| n.parse().ok()) {
            found.push((start, end, n));
        }
        at = end;
    }
    found
}

/// Appends `text` to `out` with each of its `placeholders` (from [`parameters`]) written by
/// `name` from its number instead.
fn push_renamed(
    out: &mut String,
    text: &str,
    placeholders: Vec<(usize, usize, usize)>,
    mut name: impl FnMut(&mut String, usize),
) {
    let mut copied = 0;
    for (start, end, n) in placeholders {
        out.push_str(text.get(copied..start).unwrap_or_default());
        name(out, n);
        copied = end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
}

/// `statements` as one SQLite script inside `BEGIN IMMEDIATE` … `COMMIT`: each statement's `$n`
/// becomes `$m`, its number in the script's one argument list, from which sqlx binds every
/// statement of a script. (Not `?m`: SQLite would number the statement's slots up to `m`, and
/// sqlx stops binding at the first unnamed slot past the end of the list.)
fn sqlite_script(statements: Vec<Sql>) -> (String, Vec<Arg>) {
    let mut text = String::from("BEGIN IMMEDIATE;\n");
    let mut args = Vec::new();
    for statement in statements {
        let offset = args.len();
        let placeholders = parameters(&statement.text);
        push_renamed(&mut text, &statement.text, placeholders, |out, n| {
            out.push_str(&format!("${}", n + offset));
        });
        text.push_str(";\n");
        args.extend(statement.args);
    }
    text.push_str("COMMIT;");
    (text, args)
}

/// Runs `statements` as one transaction on a connection of `pool`, in one call to the
/// connection's thread. A statement that fails ends the script; the transaction is then rolled
/// back, and a connection that cannot roll back is closed rather than returned to the pool.
pub(super) async fn run_sqlite_script(
    pool: &sqlx::SqlitePool,
    statements: Vec<Sql>,
) -> Result<(), sqlx::Error> {
    let (text, args) = sqlite_script(statements);
    let mut conn = pool.acquire().await?;
    let ran = sqlx::query_with(AssertSqlSafe(text), sqlite(args)?)
        .execute(conn.as_mut())
        .await;
    if let Err(error) = ran {
        // A script that failed at `BEGIN` has no transaction to roll back.
        if let Err(rollback) = sqlx::query("ROLLBACK").execute(conn.as_mut()).await
            && !rollback.to_string().contains("no transaction is active")
        {
            conn.close_on_drop();
        }
        return Err(error);
    }
    Ok(())
}

fn sqlite(args: Vec<Arg>) -> Result<SqliteArguments, sqlx::Error> {
    let mut out = SqliteArguments::default();
    for arg in args {
        arg.add_sqlite(&mut out).map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

fn postgres(args: Vec<Arg>) -> Result<PgArguments, sqlx::Error> {
    let mut out = PgArguments::default();
    for arg in args {
        arg.add_postgres(&mut out).map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

impl<R: Record> Sql<Rows<R>> {
    /// Every row.
    pub(crate) async fn fetch_all(self, on: impl Into<On<'_>>) -> Result<Vec<R>, sqlx::Error> {
        let conn = on.into().conn().await?;
        let (text, args) = self.parts_for(&conn);
        match conn {
            Conn::Sqlite(mut c) => {
                sqlx::query_as_with(text, sqlite(args)?)
                    .fetch_all(c.as_mut())
                    .await
            }
            Conn::Postgres(mut c) => {
                sqlx::query_as_with(text, postgres(args)?)
                    .fetch_all(c.as_mut())
                    .await
            }
        }
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional(
        self,
        on: impl Into<On<'_>>,
    ) -> Result<Option<R>, sqlx::Error> {
        let conn = on.into().conn().await?;
        let (text, args) = self.parts_for(&conn);
        match conn {
            Conn::Sqlite(mut c) => {
                sqlx::query_as_with(text, sqlite(args)?)
                    .fetch_optional(c.as_mut())
                    .await
            }
            Conn::Postgres(mut c) => {
                sqlx::query_as_with(text, postgres(args)?)
                    .fetch_optional(c.as_mut())
                    .await
            }
        }
    }

    /// The first row; [`sqlx::Error::RowNotFound`] when there is none.
    pub(crate) async fn fetch_one(self, on: impl Into<On<'_>>) -> Result<R, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Every row, each turned into what the store returns by `convert` (a row that does not
    /// convert fails the whole read).
    pub(crate) async fn all<T>(
        self,
        on: impl Into<On<'_>>,
        convert: impl FnMut(R) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch_all(on).await?.into_iter().map(convert).collect()
    }

    /// The first row, if any, turned into what the store returns by `convert`.
    pub(crate) async fn optional<T>(
        self,
        on: impl Into<On<'_>>,
        convert: impl FnOnce(R) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.fetch_optional(on).await?.map(convert).transpose()
    }
}

/// A column is read as a row of one: the rows' code serves both.
impl<T: Scalar> Sql<Values<T>> {
    /// The column of every row.
    pub(crate) async fn fetch_all(self, on: impl Into<On<'_>>) -> Result<Vec<T>, sqlx::Error> {
        let rows = self.rows::<(T,)>().fetch_all(on).await?;
        Ok(rows.into_iter().map(|(value,)| value).collect())
    }

    /// The first row's column, if there is a row.
    pub(crate) async fn fetch_optional(
        self,
        on: impl Into<On<'_>>,
    ) -> Result<Option<T>, sqlx::Error> {
        let row = self.rows::<(T,)>().fetch_optional(on).await?;
        Ok(row.map(|(value,)| value))
    }

    /// The first row's column; [`sqlx::Error::RowNotFound`] when there is no row.
    pub(crate) async fn fetch_one(self, on: impl Into<On<'_>>) -> Result<T, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grown_statement_numbers_its_parameters_for_sqlite_and_a_written_one_is_left_alone() {
        let mut grown = query("INSERT INTO t (a, b) ");
        grown.push_values([(1_i64, "x"), (2, "y")], |row, (a, b)| {
            row.push_bind(a).push_bind(b);
        });
        assert_eq!(grown.text, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
        assert_eq!(
            Sql::<()>::text_for_sqlite(grown.text, grown.grown),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        let mut reused = query("UPDATE t SET a = $1 WHERE b = $2 OR c = $1 AND d")
            .bind(1_i64)
            .bind(2_i64);
        reused.push_in([3_i64, 4]);
        assert_eq!(
            Sql::<()>::text_for_sqlite(reused.text, reused.grown),
            "UPDATE t SET a = ?1 WHERE b = ?2 OR c = ?1 AND d IN (?3, ?4)"
        );
        let written = query("SELECT 1 WHERE a = $1").bind(1_i64);
        assert!(!written.grown);
        assert_eq!(
            Sql::<()>::text_for_sqlite(written.text, written.grown),
            "SELECT 1 WHERE a = $1"
        );
    }
}
