#!/usr/bin/perl

# `nginx -t` rejects bad tier router configurations with a message that
# names the directive and the file:line; good configurations pass.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use TierRouter::Test;

my $t = TierRouter::Test->new;

my $UPSTREAMS = <<'EOF';
    upstream small_up    { server 127.0.0.1:1; }
    upstream mid_up      { server 127.0.0.1:2; }
    upstream frontier_up { server 127.0.0.1:3; }
EOF

my $TIERS = <<'EOF';
    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier mid      model=mid-model      upstream=mid_up;
    tier_router_tier frontier model=frontier-model upstream=frontier_up;
EOF

sub conf {
    my ($http, $location) = @_;
    $location //= '';
    return <<"EOF";
http {
$UPSTREAMS
$http
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location /v1/ {
            tier_router on;
$location
            proxy_pass http://\$tier_router_upstream;
        }
    }
}
EOF
}

# good configurations

for my $case (
    [ 'three tiers', conf($TIERS) ],
    [ 'explicit increasing max_score', conf(<<'EOF') ],
    tier_router_tier small model=s upstream=small_up max_score=0.2;
    tier_router_tier mid model=m upstream=mid_up max_score=0.7;
    tier_router_tier frontier model=f upstream=frontier_up max_score=1;
EOF
    [ 'reasoning and thinking_budget', conf(<<'EOF') ],
    tier_router_tier small model=s upstream=small_up;
    tier_router_tier frontier model=f upstream=frontier_up reasoning=medium
                     thinking_budget=4096;
EOF
    [ 'every location directive', conf($TIERS, <<'EOF') ],
            tier_router_dialect openai_chat;
            tier_router_auto_model auto router;
            tier_router_pin off;
            tier_router_unknown_model reject;
            tier_router_max_tier $http_x_cap;
            tier_router_min_tier small;
            tier_router_override_header X-Tier-Router-Tier;
            tier_router_headers off;
            tier_router_max_body_size 1m;
            tier_router_no_signal_tier mid;
            tier_router_fallback error timeout http_429 http_500 http_502
                                 http_503 http_504;
            tier_router_fallback_direction down;
            tier_router_attempts 4;
            tier_router_escalate length empty refusal json logprob=-0.7;
            tier_router_escalate_buffer 128k;
EOF
    [ 'a single tier', conf(
        "    tier_router_tier only model=o upstream=small_up;\n") ],
    [ 'tiers but tier_router off everywhere', <<'EOF' ],
http {
    upstream small_up { server 127.0.0.1:1; }
    tier_router_tier small model=s upstream=small_up;
    server { listen 127.0.0.1:%%PORT_main%%; }
}
EOF
    [ 'no tiers and tier_router never on', <<'EOF' ],
http {
    server { listen 127.0.0.1:%%PORT_main%%; tier_router off; }
}
EOF
) {
    my ($name, $conf) = @$case;
    $t->write_config($conf);
    my ($rc, $out) = $t->test_config;
    is($rc, 0, "good: $name") or diag($out);
}

# bad configurations: name, http part, location part, the directive that
# must be named, a regexp for the offending line, extra regexp for the text

my @bad = (
    [ 'tier_router_fallback: unknown condition', $TIERS,
      "            tier_router_fallback error http_418;  # MARK\n",
      'tier_router_fallback', qr/http_418/ ],
    [ 'tier_router_fallback_direction sideways', $TIERS,
      "            tier_router_fallback_direction sideways;  # MARK\n",
      'tier_router_fallback_direction', qr/sideways/ ],
    [ 'tier_router_attempts 5', $TIERS,
      "            tier_router_attempts 5;  # MARK\n",
      'tier_router_attempts' ],
    [ 'tier_router_attempts 0', $TIERS,
      "            tier_router_attempts 0;  # MARK\n",
      'tier_router_attempts' ],
    [ 'tier_router_escalate: unknown signal', $TIERS,
      "            tier_router_escalate length doubt;  # MARK\n",
      'tier_router_escalate', qr/doubt/ ],
    [ 'tier_router_escalate: logprob above 0', $TIERS,
      "            tier_router_escalate logprob=0.5;  # MARK\n",
      'tier_router_escalate', qr/logprob/ ],
    [ 'tier_router_escalate: logprob not a number', $TIERS,
      "            tier_router_escalate logprob=low;  # MARK\n",
      'tier_router_escalate', qr/logprob/ ],
    [ 'tier_router_escalate: off with a signal', $TIERS,
      "            tier_router_escalate off length;  # MARK\n",
      'tier_router_escalate', qr/off/ ],
    [ 'tier_router_escalate twice', $TIERS,
      "            tier_router_escalate length;\n"
      . "            tier_router_escalate empty;  # MARK\n",
      'tier_router_escalate', qr/duplicate/ ],
    [ 'unknown tier in tier_router_no_signal_tier', $TIERS,
      "            tier_router_no_signal_tier nosuch;  # MARK\n",
      'tier_router_no_signal_tier', qr/nosuch/ ],
    [ 'tier without model=',
      "    tier_router_tier small upstream=small_up;  # MARK\n",
      undef, 'tier_router_tier' ],
    [ 'tier without upstream=',
      "    tier_router_tier small model=s;  # MARK\n",
      undef, 'tier_router_tier' ],
    [ 'max_score not a number',
      "    tier_router_tier small model=s upstream=small_up"
      . " max_score=abc;  # MARK\n"
      . "    tier_router_tier mid model=m upstream=mid_up;\n",
      undef, 'tier_router_tier', qr/max_score|abc/ ],
    [ 'max_score above 1',
      "    tier_router_tier small model=s upstream=small_up"
      . " max_score=1.5;  # MARK\n"
      . "    tier_router_tier mid model=m upstream=mid_up;\n",
      undef, 'tier_router_tier', qr/max_score|1\.5/ ],
    [ 'max_score negative',
      "    tier_router_tier small model=s upstream=small_up"
      . " max_score=-0.1;  # MARK\n"
      . "    tier_router_tier mid model=m upstream=mid_up;\n",
      undef, 'tier_router_tier', qr/max_score|-0\.1/ ],
    [ 'thresholds not increasing',
      "    tier_router_tier small model=s upstream=small_up max_score=0.6;\n"
      . "    tier_router_tier mid model=m upstream=mid_up"
      . " max_score=0.4;  # MARK\n"
      . "    tier_router_tier frontier model=f upstream=frontier_up;\n",
      undef, 'tier_router_tier', qr/max_score|increas|mid/ ],
    [ 'equal thresholds',
      "    tier_router_tier small model=s upstream=small_up max_score=0.5;\n"
      . "    tier_router_tier mid model=m upstream=mid_up"
      . " max_score=0.5;  # MARK\n"
      . "    tier_router_tier frontier model=f upstream=frontier_up;\n",
      undef, 'tier_router_tier', qr/max_score|increas|mid/ ],
    [ 'duplicate tier name',
      "    tier_router_tier small model=s upstream=small_up;\n"
      . "    tier_router_tier small model=s2 upstream=mid_up;  # MARK\n",
      undef, 'tier_router_tier', qr/small/ ],
    [ 'tier_router on with no tiers defined', '',
      undef, 'tier_router', undef, qr/^\s*tier_router on;/ ],
    [ 'bad dialect value', $TIERS,
      "            tier_router_dialect gemini;  # MARK\n",
      'tier_router_dialect', qr/gemini/ ],
    [ 'bad reasoning value',
      "    tier_router_tier small model=s upstream=small_up"
      . " reasoning=extreme;  # MARK\n",
      undef, 'tier_router_tier', qr/reasoning|extreme/ ],
    [ 'bad thinking_budget',
      "    tier_router_tier small model=s upstream=small_up reasoning=high"
      . " thinking_budget=lots;  # MARK\n",
      undef, 'tier_router_tier', qr/thinking_budget|lots/ ],
    [ 'unknown tier parameter',
      "    tier_router_tier small model=s upstream=small_up"
      . " colour=blue;  # MARK\n",
      undef, 'tier_router_tier', qr/colour/ ],
    [ 'auto_model with a quote', $TIERS,
      "            tier_router_auto_model auto 'a\"b';  # MARK\n",
      'tier_router_auto_model', qr/invalid model name/ ],
    [ 'auto_model too long', $TIERS,
      "            tier_router_auto_model " . ('m' x 128) . ";  # MARK\n",
      'tier_router_auto_model', qr/invalid model name/ ],
    [ 'constant budget limit not in dollars',
      "$TIERS    tier_router_budget_zone zone=z:1m;\n",
      "            tier_router_budget zone=z key=\$http_authorization"
      . " limit=25usd;  # MARK\n",
      'tier_router_budget', qr/invalid budget limit "25usd"/ ],
    [ 'bad unknown_model value', $TIERS,
      "            tier_router_unknown_model drop;  # MARK\n",
      'tier_router_unknown_model', qr/drop/ ],
    [ 'bad max_body_size', $TIERS,
      "            tier_router_max_body_size lots;  # MARK\n",
      'tier_router_max_body_size' ],
    [ 'tier_router_tier in a location', '',
      "            tier_router_tier x model=x upstream=small_up;  # MARK\n",
      'tier_router_tier', qr/not allowed here/ ],
    [ 'tier upstream that does not exist',
      "    tier_router_tier small model=s upstream=nowhere_up;  # MARK\n",
      undef, 'tier_router_tier', qr/nowhere_up/ ],
);

for my $case (@bad) {
    my ($name, $http, $loc, $directive, $text, $line_re) = @$case;

    my $conf = $t->write_config(conf($http, $loc));
    my $line = $t->conf_line($line_re || qr/# MARK/);
    my ($rc, $out) = $t->test_config;

    isnt($rc, 0, "bad: $name: nginx -t fails");
    like($out, qr/\[emerg\]/, "bad: $name: emerg");
    like($out, qr/(?<![\w])\Q$directive\E(?![\w])/,
        "bad: $name: names $directive");
    like($out, qr/ in \Q$conf\E:\Q$line\E\b/,
        "bad: $name: points at $conf:$line") or diag($out);
    like($out, $text, "bad: $name: message") if $text;
}

# a message should say what is wrong, not only where

{
    $t->write_config(conf($TIERS,
        "            tier_router_no_signal_tier nosuch;  # MARK\n"));
    my ($rc, $out) = $t->test_config;
    my ($msg) = $out =~ /\[emerg\][^\n]*/g;
    ok(defined $msg && length($msg) < 400, 'message is one short line');
}

done_testing;
