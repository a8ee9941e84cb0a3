// mimalloc for Rust and for tree-sitter's C core: parsing allocates and frees millions of small
// nodes, and with the system allocator malloc and free were a tenth of a run (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Opts the process out of transparent huge pages (a warm run spent about a third of its CPU
/// zeroing 2 MB pages). Run from `.init_array`, before Rust's runtime starts: its first
/// allocation (the main thread's info, before `main`) reserves mimalloc's first arena, and
/// touching it faulted in a whole huge page (about a tenth of a warm run on a small project).
extern "C" fn opt_out_of_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[used]
#[link_section = ".init_array"]
static OPT_OUT_OF_HUGE_PAGES: extern "C" fn() = opt_out_of_huge_pages;

fn main() -> std::process::ExitCode {
    // SAFETY: called first, before any tree-sitter object exists, on the only thread; the four
    // functions are one allocator family (mimalloc), aligned as malloc is.
    unsafe {
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc: libmimalloc_sys::mi_malloc,
            calloc: libmimalloc_sys::mi_calloc,
            realloc: libmimalloc_sys::mi_realloc,
            free: libmimalloc_sys::mi_free,
        }));
    }
    unblocker::cli::main()
}
