/// jemalloc instead of glibc's malloc: Pingora allocates and frees buffers
/// on every request, and with glibc a sixth of the hit path's CPU went to
/// `malloc`/`free`/`malloc_consolidate`. mimalloc was as fast but held about
/// 60% more memory under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    proxy::app::main()
}
