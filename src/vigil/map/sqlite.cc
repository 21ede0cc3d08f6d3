#include "vigil/map/sqlite.h"

#include <sqlite3.h>
#include <utility>

#include "vigil/util/check.h"

namespace vigil::map::sqlite {
namespace fs = std::filesystem;

namespace {

// Several processes may read a map while one writes it (WAL); a writer waits this long for
// another writer's transaction before giving up with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 10'000;

}  // namespace

Database::Database(const fs::path& path, Mode mode) : path_(path) {
  int flags = SQLITE_OPEN_NOMUTEX;  // one connection per thread (MapStore is not shared)
  switch (mode) {
    case Mode::kReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case Mode::kReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case Mode::kReadWriteCreate:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
  }
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    ThrowError(fmt::format("{}: cannot open SQLite database: {}", path.string(), message));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

void Database::Fail(int rc, const std::string& what) const {
  const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  ThrowError(fmt::format("{}: {}: {}", path_.string(), what, message));
}

void Database::Exec(const std::string& sql) const {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    ThrowError(fmt::format("{}: {}: {}", path_.string(), sql.substr(0, 60), message));
  }
}

Statement Database::Prepare(const std::string& sql) const { return Statement(*this, sql); }

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

Statement::Statement(const Database& db, const std::string& sql) : db_(&db) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.Fail(rc, "cannot prepare \"" + sql.substr(0, 60) + "\"");
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::Bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->Fail(rc, "bind");
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) db_->Fail(rc, "bind");
  return *this;
}

Statement& Statement::Bind(int index, const std::string& value) {
  const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                   SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindBlob(int index, const void* data, size_t bytes) {
  // A zero-length blob must still be a blob, not NULL: SQLite binds NULL for a null pointer.
  static const char kEmpty = 0;
  const int rc = sqlite3_bind_blob64(stmt_, index, bytes ? data : &kEmpty, bytes, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->Fail(rc, "bind");
  return *this;
}

Statement& Statement::BindNull(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->Fail(rc, "bind");
  return *this;
}

bool Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->Fail(rc, fmt::format("\"{}\"", std::string(sqlite3_sql(stmt_)).substr(0, 60)));
}

void Statement::Run() {
  while (Step()) {
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}
int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

const void* Statement::Blob(int column) const { return sqlite3_column_blob(stmt_, column); }
size_t Statement::BlobSize(int column) const {
  return static_cast<size_t>(sqlite3_column_bytes(stmt_, column));
}

Transaction::Transaction(const Database& db) : db_(db) { db_.Exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (done_) return;
  // Never throws from a destructor; a failed rollback leaves SQLite to roll back on close.
  sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::Commit() {
  db_.Exec("COMMIT");
  done_ = true;
}

}  // namespace vigil::map::sqlite
