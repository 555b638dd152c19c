// Measured peak fp32 FLOP/s of this machine: an FMA throughput loop on every thread, enough independent
// accumulators to cover FMA latency x FMA ports. The benchmark reports SGEMM and conv as % of this.
// peakFlopsAvx2 / peakFlopsAvx512 may only run when detectedSimdLevel() reports that level.
#pragma once

namespace facestyle::cpu {

// Runs `threads` threads for about `seconds` each; returns total FLOP/s (an FMA counts 2 per lane).
double peakFlopsAvx2(int threads, double seconds);
double peakFlopsAvx512(int threads, double seconds);

}  // namespace facestyle::cpu
