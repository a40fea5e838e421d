#!/usr/bin/perl

# The answer checks (tier_router_escalate math) through nginx + the module
# + mock models: a word problem's cheap answer that its own text shows
# wrong (a false equation, a fraction for a count) goes one tier up in
# every dialect, a right one is kept, a prompt that is no word problem is
# not checked, the threshold and a weights file move the bar, a bad file
# stops nginx; and the trainer fits the project's corpus, the corpus is
# remade byte for byte, and what the trainer prints nginx loads.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $repo = TierRouter::Test->repo;

my $counts = $t->testdir . '/requests.log';

$t->mock($_, args => ['--count-file', $counts]) for qw(small mid frontier);

# weights that make hedging alone escalate, and none else
$t->write_file('hedge.json', $J->encode({
    family => 'math', bias => -3, pre => 0, threshold => 0.5,
    weights => { no_final => 0, decimal => 0, false_eq => 0, hedge => 6 },
}));

my $conf = <<'EOF2';
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    log_format chk 'C id=$http_x_id tier=$tier_router_tier '
                   'path="$tier_router_attempt_log"';

    access_log %%TESTDIR%%/chk.log chk;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router on;
        tier_router_headers on;
        tier_router_override_header X-Tier;
        tier_router_attempts 3;

        location /v1/ {
            tier_router_escalate math;
            proxy_pass http://$tier_router_upstream;
        }

        location /strict/ {
            tier_router_escalate math=0.99;
            proxy_pass http://$tier_router_upstream;
        }

        location /hedge/ {
            tier_router_escalate math;
            tier_router_escalate_weights %%TESTDIR%%/hedge.json;
            proxy_pass http://$tier_router_upstream;
        }

        location /plain/ {
            tier_router_escalate length;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF2

$t->write_config($conf);
$t->run;

my $problem = 'Tom has 3 apples and buys 4 more. How many apples does he '
    . 'have now?';

sub call {
    my (%o) = @_;
    my $text = delete $o{answer};

    return $t->llm_call(text => $problem, log => ['chk.log', 'C'],
        counts => 'requests.log', %o,
        headers => ['X-Mock-At-small-Text' => $text,
                    'X-Mock-At-mid-Text' => 'The answer is 7.',
                    @{ delete $o{headers} // [] }]);
}

my $r;

for my $d (qw(chat responses anthropic)) {
    $r = call(dialect => $d, answer => '3 + 4 = 8. The answer is 8.');
    is($r->{tried}, 'small mid', "$d, a false equation: mid asked");
    is($r->{headers}{'x-tier-router-tier'}, 'mid', "$d: mid answered");
    like($r->{log}{path}, qr/^small:200:0\.\d+:math mid:200:/,
        "$d: the path names the signal");
    unlike($r->{body}, qr/= 8/, "$d: nothing of small's answer is sent");

    $r = call(dialect => $d, answer => '3 + 4 = 7. The answer is 7.');
    is($r->{tried}, 'small', "$d, a right answer: kept");
}

$r = call(answer => 'He has 3.5 of them. The answer is 3.5.');
is($r->{headers}{'x-tier-router-path'}, 'small:200:math mid',
    'a fraction for how many: escalated');

$r = call(answer => 'The answer is 7.', text => 'Write a haiku about spring.');
is($r->{tried}, 'small', 'no word problem: not checked');

$r = call(answer => '3 + 4 = 8. The answer is 8.',
          text => 'Write a haiku about spring.');
is($r->{tried}, 'small', 'no word problem: a false equation is not read');

$r = call(answer => 'I think the answer is probably 7.');
is($r->{tried}, 'small', 'hedging alone: under the default weights\' bar');

$r = call(prefix => '/hedge/', answer => 'I think the answer is probably 7.');
is($r->{tried}, 'small mid', 'hedging, with weights that count it: '
    . 'escalated');

$r = call(prefix => '/hedge/', answer => '3 + 4 = 8. The answer is 8.');
is($r->{tried}, 'small', '... and those weights count nothing else');

$r = call(prefix => '/strict/', answer => 'He has 3.5. The answer is 3.5.');
is($r->{tried}, 'small', 'math=0.99: a fraction alone is not enough');

$r = call(prefix => '/strict/',
          answer => 'I think 3 + 4 = 8, maybe 8.5 in all.');
is($r->{tried}, 'small mid', 'math=0.99: every sign at once is');

$r = call(prefix => '/plain/', answer => '3 + 4 = 8. The answer is 8.');
is($r->{tried}, 'small', 'math not named: not checked');

$r = call(answer => '3 + 4 = 8. The answer is 8.', stream => 1);
is($r->{tried}, 'small', 'a stream is never held');

$r = call(answer => '3 + 4 = 8. The answer is 8.',
          headers => ['X-Mock-At-mid-Text' => '3 + 4 = 9. The answer is 9.']);
is($r->{headers}{'x-tier-router-path'}, 'small:200:math mid:200:math frontier',
    'wrong twice: up to the last attempt');

# configuration errors

for my $bad (
    ['tier_router_escalate math=1;', qr/the probability is a number between/],
    ['tier_router_escalate math=x;', qr/the probability is a number between/],
    ['tier_router_escalate maths;', qr/invalid value "maths"/],
    ["tier_router_escalate_weights %%TESTDIR%%/none.json;",
     qr/none\.json" failed/],
    ["tier_router_escalate_weights %%TESTDIR%%/broken.json;",
     qr/weights ".*broken\.json": "threshold" is not between 0 and 1/],
    ["tier_router_escalate_weights %%TESTDIR%%/hedge.json;\n"
     . "tier_router_escalate_weights %%TESTDIR%%/hedge.json;",
     qr/is duplicate/],
) {
    $t->write_file('broken.json', '{"family":"math","bias":0,"pre":0,'
        . '"threshold":2,"weights":{"no_final":0,"decimal":0,'
        . '"false_eq":0,"hedge":0}}');

    my $c = $conf;
    $c =~ s/(tier_router_attempts 3;)/$1\n        $bad->[0]/;
    $t->write_config($c, file => 'bad.conf');

    my ($rc, $out) = $t->test_config('bad.conf');
    isnt($rc, 0, "nginx -t fails: $bad->[0]");
    like($out, $bad->[1], '... and says why');
}

# the trainer and the corpus

my $fit = "$repo/build/tier-router-fit";
my $corpus = "$repo/t/data/checks/math.jsonl";

my $remade = `perl $repo/tools/tier-router-check-corpus`;
is($remade, $t->read_file($corpus),
    'the corpus is remade byte for byte from its seed');

my $weights = `$fit $corpus 2>$t->{dir}/fit.err`;
is($?, 0, 'the trainer fits the corpus');

my $report = $t->read_file('fit.err');
my ($alone, $both) = $report =~ /held-out APGR: score alone ([\d.]+), score and checks ([\d.]+)/;
ok(defined $both, 'it reports the held-out APGR') or diag $report;
cmp_ok($both, '>', $alone + 0.2,
    "the checks add to the score: $both against $alone, held out");

my $w = eval { decode_json($weights) } // {};
cmp_ok($w->{weights}{false_eq} // 0, '>', 1,
    'a false equation weighs against the answer');

like($report, qr/false_eq  fires on +[1-9][\d.]*% of wrong answers, +0\.0% of right/,
    'a false equation never fires on a right answer of the corpus');

$t->write_file('fitted.json', $weights);
my $c = $conf;
$c =~ s{hedge\.json}{fitted.json};
$t->write_config($c, file => 'fitted.conf');
my ($rc, $out) = $t->test_config('fitted.conf');
is($rc, 0, 'nginx loads what the trainer printed') or diag $out;

my $bad = `$fit --threshold 1 $corpus 2>&1`;
isnt($?, 0, 'the trainer refuses a threshold of 1');
$bad = `printf '{"id":"a"}\n' | $fit /dev/stdin 2>&1`;
like($bad, qr/not a row with id, prompt, answer/, 'and a row with no answer');

done_testing;
