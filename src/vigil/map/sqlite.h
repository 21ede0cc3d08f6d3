// A thin RAII layer over SQLite's C API (Debian libsqlite3), used only by the map file.
//
// Why our own: Debian packages no C++ wrapper for SQLite (SQLiteCpp, sqlite_modern_cpp are not
// in the archive), and the map needs four things only: open a database in a given mode, prepare
// and step statements with typed binds, read typed columns, and wrap writes in a transaction that
// rolls back unless committed. COLMAP's database.cc does the same with raw sqlite3_* calls behind
// a macro; here the handles live in move-only objects, so an exception cannot leak a statement
// or leave a transaction open. Every error is a vigil::Error naming the database file and
// carrying SQLite's own message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace vigil::map::sqlite {

class Statement;

class Database {
 public:
  enum class Mode {
    kReadOnly,         // never writes, never creates; many processes may hold one at once
    kReadWrite,        // the file must exist
    kReadWriteCreate,  // creates an empty database when the file does not exist
  };
  // Throws vigil::Error "<path>: cannot open SQLite database: <reason>".
  Database(const std::filesystem::path& path, Mode mode);
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that return no rows the caller needs.
  void Exec(const std::string& sql) const;
  Statement Prepare(const std::string& sql) const;
  int64_t LastInsertRowId() const;
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_; }
  // Throws vigil::Error "<path>: <what>: <SQLite message>" for a failed call with result `rc`.
  [[noreturn]] void Fail(int rc, const std::string& what) const;

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// A prepared statement. Binds are 1-based (SQLite's convention), columns 0-based.
class Statement {
 public:
  Statement(const Database& db, const std::string& sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, const std::string& value);
  Statement& Bind(int index, const char* value) { return Bind(index, std::string(value)); }
  Statement& BindBlob(int index, const void* data, size_t bytes);  // copied by SQLite
  Statement& BindNull(int index);
  template <class T>
  Statement& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }

  // Advances to the next row: true when a row is available, false when done.
  bool Step();
  // Step() for a statement that returns no rows (INSERT, UPDATE).
  void Run();
  void Reset();  // ready to Step() again with new binds

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;  // "" for NULL
  // The column's bytes (valid until the next Step/Reset); size in bytes via BlobSize.
  const void* Blob(int column) const;
  size_t BlobSize(int column) const;

 private:
  const Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE in the constructor (takes the write lock at once, so two writers queue on the
// busy timeout instead of failing half-way), ROLLBACK in the destructor unless Commit() ran.
class Transaction {
 public:
  explicit Transaction(const Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void Commit();

 private:
  const Database& db_;
  bool done_ = false;
};

}  // namespace vigil::map::sqlite
