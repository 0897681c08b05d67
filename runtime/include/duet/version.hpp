// duet's version. The numbers here must be project(VERSION)'s in the top-level
// CMakeLists.txt (the configure step checks); CHANGELOG.md says what each version holds.
#pragma once

#define DUET_VERSION_MAJOR 0
#define DUET_VERSION_MINOR 1
#define DUET_VERSION_PATCH 0
// "MAJOR.MINOR.PATCH", for messages and #if-free comparisons of the header's version.
#define DUET_VERSION_STRING "0.1.0"

namespace duet {

// The version of the duet library linked into the program, "MAJOR.MINOR.PATCH" (the
// header's DUET_VERSION_STRING is the version compiled against; a mismatch means headers
// and libraries of different installs were mixed).
const char* version() noexcept;

}  // namespace duet
