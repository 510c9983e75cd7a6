//! Fresh PostgreSQL databases for platform tests, from `PUBLISHFLOW_TEST_DATABASE_URL`.

use sqlx::Executor;

/// The variable naming the PostgreSQL server tests may use.
pub const PG_ENV: &str = "PUBLISHFLOW_TEST_DATABASE_URL";

/// A database created for one test and dropped when this is dropped.
pub struct FreshDatabase {
    /// The URL of the new database.
    pub url: String,
    name: String,
    base: String,
}

/// Creates a fresh database on the server of `PUBLISHFLOW_TEST_DATABASE_URL`.
///
/// Returns `None` when the variable is unset outside CI; under `CI` a missing variable fails the
/// test, so a PostgreSQL test never skips silently there.
pub async fn fresh_database() -> Option<FreshDatabase> {
    let Ok(base) = std::env::var(PG_ENV) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{PG_ENV} must be set in CI (scripts/test sets it)"
        );
        eprintln!("note: {PG_ENV} is not set; this PostgreSQL test ran nothing");
        return None;
    };
    let name = format!("pf_platform_{}_{}", std::process::id(), rand_suffix());
    let mut conn = admin(&base).await;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    let url = with_database(&base, &name);
    Some(FreshDatabase { url, name, base })
}

async fn admin(base: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        % 1_000_000_000
}

/// The same server URL with another database name (`postgres://h/db?opts` or `postgres:///db?host=…`).
pub fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = head[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(head.len());
    format!("{}/{name}{query}", &head[..path_start])
}

impl FreshDatabase {
    /// Drops the database (call at the end of the test; connections must be closed first).
    pub async fn drop_now(self) {
        let mut conn = admin(&self.base).await;
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres:///root?host=/var/run/postgresql", "x"),
            "postgres:///x?host=/var/run/postgresql"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432/db", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
