// Sanitizer defaults linked into every fuzzer, so that running one by hand behaves as CTest
// does: any UBSan report stops it (UBSan is recoverable in this build only for the sake of
// known_bugs.supp) and leaks are reported. UBSAN_OPTIONS / ASAN_OPTIONS still override them.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
extern "C" const char* __asan_default_options() { return "detect_leaks=1:halt_on_error=1"; }
