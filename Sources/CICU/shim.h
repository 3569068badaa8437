// System ICU (Debian libicu-dev), found by pkg-config icu-uc. Swift code never imports this module
// directly: Foundation on Linux carries its own ICU copy (_FoundationICU) whose C types clash with
// these headers inside one Swift module, so the ICUShim C target wraps the calls gasa needs.
#ifndef GASA_CICU_SHIM_H
#define GASA_CICU_SHIM_H
#include <unicode/utypes.h>
#endif
