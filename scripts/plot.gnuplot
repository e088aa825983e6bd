# The plots of scripts/compare.sh, from the tables it writes into its output folder:
#   gnuplot -e "dir='docs/bench'" scripts/plot.gnuplot
# dir/throughput.dat  "scenario RELAY..." then one row per scenario: median MB/s (NaN: not run)
# dir/latency.dat     "relay p50 p90 p99 p99.9" then one row per relay: the latency scenario's
#                     median percentiles in milliseconds
# Writes dir/throughput.png (clustered bars, one cluster per scenario, one bar per relay) and,
# when the latency scenario ran, dir/latency.png (clustered bars, one cluster per relay, one bar
# per percentile, log scale).
if (!exists("dir")) dir = "docs/bench"
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1400,650 font "DejaVu Sans,11" noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set xtics nomirror
set ytics nomirror
set yrange [0:*]

set output dir."/throughput.png"
set title "Throughput at the sink, median MB/s (10^6 bytes)".(subtitle eq "" ? "" : "\n".subtitle)
set ylabel "MB/s"
plot for [i=2:*] dir."/throughput.dat" using i:xtic(1) title columnheader(i)

if (strlen(system("test -s ".dir."/latency.dat && echo yes")) > 0) {
    set output dir."/latency.png"
    set title "Latency at a fixed rate (half of funnel's lines-16 peak), median percentiles".(subtitle eq "" ? "" : "\n".subtitle)
    set ylabel "milliseconds (log scale)"
    set logscale y
    set yrange [*:*]
    set key outside right top vertical
    plot for [i=2:*] dir."/latency.dat" using i:xtic(1) title columnheader(i)
    unset logscale y
}
set output
