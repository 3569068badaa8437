// Unversioned, ICU-type-free wrappers over the system ICU calls gasa makes.
// System ICU renames every entry point with its major version (unorm2_normalize ->
// unorm2_normalize_72) by macros that Swift does not import, and its C types clash with
// Foundation's private ICU copy, so Swift sees only plain integers and opaque pointers here.
// Error codes are ICU UErrorCode values: 0 is success, > 0 failure, < 0 a warning.
#ifndef GASA_ICUSHIM_H
#define GASA_ICUSHIM_H
#include <stdint.h>

enum { GASA_NFC = 0, GASA_NFKC = 1, GASA_NFD = 2, GASA_NFKD = 3 };
enum { GASA_BRK_CHARACTER = 0, GASA_BRK_WORD = 1 };

/// Returns an opaque normalizer (owned by ICU, never freed) or NULL with *err set.
const void *gasa_normalizer(int32_t form, int32_t *err);
/// Normalizes src[0..<len] into dest (capacity cap); returns the needed length (U_BUFFER_OVERFLOW_ERROR when cap is short).
int32_t gasa_normalize(const void *norm, const uint16_t *src, int32_t len, uint16_t *dest, int32_t cap, int32_t *err);
/// Length of the prefix of s that is already normalized ("quick check yes").
int32_t gasa_span_quick_check_yes(const void *norm, const uint16_t *s, int32_t len, int32_t *err);
/// 1 if the scalar c has a normalization boundary before it (text can be cut there safely).
int32_t gasa_has_boundary_before(const void *norm, int32_t c);
/// 1 if c, whatever surrounds it, keeps a text in the form (GASA_NFC or GASA_NFKC): its quick check
/// property is Yes and its canonical combining class is 0 (UAX #15, "Detecting Normalization Forms").
int32_t gasa_stable_in_form(int32_t form, int32_t c);

/// Break iterator over UTF-16 text (kept by pointer, must outlive the iterator); "" = root locale.
void *gasa_break_open(int32_t kind, const char *locale, const uint16_t *text, int32_t len, int32_t *err);
void gasa_break_close(void *bi);
/// Next boundary offset after the current one, or -1 at the end.
int32_t gasa_break_next(void *bi);

void gasa_icu_version(uint8_t out[4]);
void gasa_unicode_version(uint8_t out[4]);
const char *gasa_icu_error_name(int32_t err);
#endif
