#!/usr/bin/perl

# The learned scorer end to end: the trainer reproduces the shipped
# weights byte for byte, the CLI scores with them, nginx loads them with
# tier_router_model and routes by them (the same scores as the CLI), and
# bad model files are refused with a clear message.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $root = TierRouter::Test->repo;
my $dir = $t->testdir;

my $train = "$root/build/tier-router-train";
my $cli = "$root/build/tier-router-classify";
my $shipped = "$root/models/default.json";
my $data = "$root/t/data/routing";

plan(skip_all => 'no trainer, CLI or data')
    unless -x $train && -x $cli && -d $data;


# -- the trainer ------------------------------------------------------------

my ($rc, $out) = $t->_capture($train, "$data/gsm8k_dev.jsonl",
                              "$data/mmlu_dev.jsonl");
is($rc, 0, 'the trainer runs');
my $want = do { local (@ARGV, $/) = $shipped; <> };
ok($out eq $want, 'it reproduces models/default.json byte for byte');

my $m = TierRouter::Test::json_decode($out);
ok($m && $m->{format} eq 'tier-router-model' && @{$m->{weights}} == 35
   && $m->{trained_rows} == 7674, 'a model of 35 weights from 7674 rows');

my ($rc2, $out2) = $t->_capture($train, '--holdout', 'odd',
                                "$data/gsm8k_dev.jsonl");
my $m2 = TierRouter::Test::json_decode($out2);
ok($rc2 == 0 && $m2->{trained_rows} > 250 && $m2->{trained_rows} < 400
   && $m2->{holdout} eq 'odd', "--holdout odd keeps about half "
   . "($m2->{trained_rows} of 641 rows)");

$t->write_file('bad.jsonl', qq({"id":"x","prompt":"hi"}\n));
($rc) = $t->_capture($train, "$dir/bad.jsonl");
is($rc, 1, 'a row without outcomes stops the trainer');


# -- held out: better than prompt length on rows it never saw -------------

{
    my $h = "$dir/half.json";
    my ($rc) = $t->_capture('/bin/sh', '-c', "$train --holdout even "
        . "$data/gsm8k_dev.jsonl $data/mmlu_dev.jsonl > $h");

    my %apgr;
    for my $r (['learned', "$cli --model $h $data/gsm8k_dev.jsonl | "
                . "$root/tools/tier-router-score --data $data/gsm8k_dev.jsonl "
                . "--scores - --split even --json"],
               ['length', "$root/tools/tier-router-score --data "
                . "$data/gsm8k_dev.jsonl --baseline length --split even "
                . "--json"])
    {
        my (undef, $out) = $t->_capture('/bin/sh', '-c', $r->[1]);
        my $j = TierRouter::Test::json_decode($out) || {};
        $apgr{$r->[0]} = $j->{apgr} // 0;
        is($j->{rows}, 317, "--split even scores the 317 rows held out")
            if $r->[0] eq 'length';
    }

    ok($apgr{learned} > $apgr{length} + 0.05,
       sprintf('held out, the learned scorer beats prompt length on GSM8K '
               . '(APGR %.3f against %.3f)', $apgr{learned},
               $apgr{length}));
}


# -- the CLI ------------------------------------------------------------------

my @bodies = map { $J->encode({ model => 'auto', messages => [
        { role => 'user', content => $_ } ] }) }
    'Translate "good morning" into French.',
    'Prove that there are infinitely many primes, then write a Rust '
        . 'function that lists the first n of them, with tests.',
    'A store sells pens at $3 each. If Tom buys 4 pens and pays with a '
        . '$20 bill, how much change does he get?',
    'Which of the following is NOT a function of the liver? (A) bile '
        . '(B) insulin (C) glycogen (D) urea';

$t->write_file('bodies.jsonl', join("\n", @bodies) . "\n");

($rc, $out) = $t->_capture($cli, '--model', $shipped, "$dir/bodies.jsonl");
my @model = map { $J->decode($_)->{score} } grep { /\S/ } split /\n/, $out;
($rc, $out) = $t->_capture($cli, "$dir/bodies.jsonl");
my @rules = map { $J->decode($_)->{score} } grep { /\S/ } split /\n/, $out;

is(scalar @model, 4, 'the CLI scores with --model');
ok((grep { abs($model[$_] - $rules[$_]) > 1e-6 } 0 .. 3),
   'and the model scores differ from the rules\' ('
   . join(' ', map { sprintf '%.3f', $_ } @model) . ')');

$t->write_file('mismatch.json', do {
    my $x = $J->decode($J->encode($m));
    $x->{features}[7] = 'r_something_else';
    $J->encode($x);
});

($rc, $out) = $t->_capture($cli, '--model', "$dir/mismatch.json",
                           "$dir/bodies.jsonl");
ok($rc == 2 && $out =~ /feature 7 is "r_something_else"/,
   'the CLI refuses a mismatched model');


# -- nginx --------------------------------------------------------------------

$t->mock('small');

my $conf = <<"EOF";
http {
    %%HTTP_DEFAULTS%%

    upstream up { server 127.0.0.1:%%PORT_mock_small%%; }

    tier_router_tier small    model=small-model    upstream=up;
    tier_router_tier mid      model=mid-model      upstream=up;
    tier_router_tier frontier model=frontier-model upstream=up;

    tier_router_model MODEL;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            proxy_pass http://\$tier_router_upstream;
        }
    }
}
EOF

(my $c = $conf) =~ s/MODEL/$shipped/;
$t->write_config($c);
$t->run;

my @scores;

for my $b (@bodies) {
    my $r = $t->http_post('/v1/chat/completions', $b);
    push @scores, $r->{headers}{'x-tier-router-score'};
}

is_deeply(\@scores, [map { sprintf '%.3f', $_ } @model],
          'nginx scores with the model exactly as the CLI does');

# a flat model: every request scores 0.5, so every one goes to mid

my $flat = $J->decode($J->encode($m));
$flat->{weights} = [1, (0) x (@{$m->{weights}} - 1)];
$flat->{center} = 1;
$flat->{scale} = 1;
$t->write_file('flat.json', $J->encode($flat));

($c = $conf) =~ s/MODEL/$dir\/flat.json/;
$t->write_config($c);
$t->reload;

my %tiers;
$tiers{$t->http_post('/v1/chat/completions', $_)->{headers}
      {'x-tier-router-tier'} // '-'}++ for @bodies;
is_deeply(\%tiers, { mid => 4 }, 'a flat model routes everything by its '
          . 'score 0.5: to mid');

$t->write_file('truncated.json', substr($want, 0, 300));

for my $case (
    [ 'mismatch.json', 'feature 7 is "r_something_else"' ],
    [ 'bad.jsonl', 'not a tier router model' ],
    [ 'truncated.json', 'not valid JSON' ],
    [ 'none.json', 'failed' ],
)
{
    ($c = $conf) =~ s/MODEL/$dir\/$case->[0]/;
    $t->write_config($c);
    my ($rc, $out) = $t->test_config;
    ok($rc != 0 && $out =~ /\Q$case->[1]\E/,
       "nginx -t refuses $case->[0]: $case->[1]") or diag($out);
}

$t->stop;

done_testing;
