// Crash- and interrupt-safe output: every file vigil writes goes to a temporary name in the
// same folder and is renamed into place only when complete, so a reader never sees half a file.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace vigil {

// Calls write(tmp_path), then renames tmp_path to `path` (atomic on POSIX within one folder).
// On any exception the temporary file is removed and the exception propagates.
void WriteFileAtomically(const std::filesystem::path& path,
                         const std::function<void(const std::filesystem::path&)>& write);

void WriteTextFileAtomically(const std::filesystem::path& path, const std::string& text);
void WriteBinaryFileAtomically(const std::filesystem::path& path, const void* data, size_t size);

// Reads a whole file; throws vigil::Error naming the file when it cannot be read.
std::string ReadFileToString(const std::filesystem::path& path);

// Creates `dir` (and parents); throws naming the folder on failure.
void EnsureDirectory(const std::filesystem::path& dir);

}  // namespace vigil
