#!/usr/bin/perl

# A short run of every libFuzzer target (fuzz/fuzz_*.c: the request
# extractor and rewriter against jansson, the usage reader fed in random
# pieces, the price catalog and the weights loaders), built with
# AddressSanitizer and UBSan: a crash, a leak, undefined behaviour or a
# broken check of the target fails the test.  TEST_FUZZ_SECONDS per target
# (default 60; 0 skips); `make fuzz` with FUZZ_SECONDS for long runs.

use strict;
use warnings;

use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $seconds = $ENV{TEST_FUZZ_SECONDS} // 60;

plan skip_all => 'TEST_FUZZ_SECONDS=0' if $seconds eq '0';
plan skip_all => 'no clang (scripts/deps.sh installs it)'
    unless grep { -x "$_/clang" } split /:/, $ENV{PATH};

my @targets = map { m{fuzz_(\w+)\.c$} ? $1 : () } glob "$root/fuzz/fuzz_*.c";

ok(@targets >= 4, 'fuzz targets: ' . join(' ', @targets));

my $out = `cd $root && FUZZ_SECONDS=$seconds scripts/fuzz.sh 2>&1`;
my $rc = $? >> 8;

diag($_) for grep { /\S/ } split /\n/, $out;

is($rc, 0, "every target ran $seconds s without a finding");

for my $n (@targets) {
    like($out, qr/^\Q$n\E\s+(\d+)\s+\S+\s+\d+\s+ok$/m, "$n: ran, no finding");
    my ($execs) = $out =~ /^\Q$n\E\s+(\d+)/m;
    ok(($execs // 0) > 1000, "$n: " . ($execs // 0) . ' executions');
}

done_testing;
