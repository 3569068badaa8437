// The unversioned C wrappers over system ICU that Swift calls (normaliser, segmentation, versions): see
// include/icushim.h for why they exist. No ICU type crosses into Swift.
#include "icushim.h"
#include <unicode/utypes.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ubrk.h>
#include <unicode/uversion.h>

const void *gasa_normalizer(int32_t form, int32_t *err) {
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *n = NULL;
    switch (form) {
    case GASA_NFC: n = unorm2_getNFCInstance(&e); break;
    case GASA_NFKC: n = unorm2_getNFKCInstance(&e); break;
    case GASA_NFD: n = unorm2_getNFDInstance(&e); break;
    case GASA_NFKD: n = unorm2_getNFKDInstance(&e); break;
    default: e = U_ILLEGAL_ARGUMENT_ERROR;
    }
    *err = (int32_t)e;
    return n;
}

int32_t gasa_normalize(const void *norm, const uint16_t *src, int32_t len, uint16_t *dest, int32_t cap, int32_t *err) {
    UErrorCode e = U_ZERO_ERROR;
    int32_t r = unorm2_normalize((const UNormalizer2 *)norm, (const UChar *)src, len, (UChar *)dest, cap, &e);
    *err = (int32_t)e;
    return r;
}

int32_t gasa_span_quick_check_yes(const void *norm, const uint16_t *s, int32_t len, int32_t *err) {
    UErrorCode e = U_ZERO_ERROR;
    int32_t r = unorm2_spanQuickCheckYes((const UNormalizer2 *)norm, (const UChar *)s, len, &e);
    *err = (int32_t)e;
    return r;
}

int32_t gasa_has_boundary_before(const void *norm, int32_t c) {
    return unorm2_hasBoundaryBefore((const UNormalizer2 *)norm, (UChar32)c) ? 1 : 0;
}

int32_t gasa_stable_in_form(int32_t form, int32_t c) {
    UProperty qc = form == GASA_NFKC ? UCHAR_NFKC_QUICK_CHECK : UCHAR_NFC_QUICK_CHECK;
    return u_getIntPropertyValue((UChar32)c, qc) == UNORM_YES && u_getCombiningClass((UChar32)c) == 0 ? 1 : 0;
}

void *gasa_break_open(int32_t kind, const char *locale, const uint16_t *text, int32_t len, int32_t *err) {
    UErrorCode e = U_ZERO_ERROR;
    UBreakIterator *bi = ubrk_open(kind == GASA_BRK_WORD ? UBRK_WORD : UBRK_CHARACTER, locale,
                                   (const UChar *)text, len, &e);
    *err = (int32_t)e;
    return bi;
}

void gasa_break_close(void *bi) { if (bi) ubrk_close((UBreakIterator *)bi); }

int32_t gasa_break_next(void *bi) {
    int32_t r = ubrk_next((UBreakIterator *)bi);
    return r == UBRK_DONE ? -1 : r;
}

void gasa_icu_version(uint8_t out[4]) { u_getVersion(out); }
void gasa_unicode_version(uint8_t out[4]) { u_getUnicodeVersion(out); }
const char *gasa_icu_error_name(int32_t err) { return u_errorName((UErrorCode)err); }
