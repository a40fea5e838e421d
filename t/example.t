#!/usr/bin/perl

# examples/nginx.conf, as scripts/run-example.sh runs it (the mocks with
# the same options, only the ports the harness's): each provider's API
# climbs its own provider's models, and the Opus tier, on a mock that
# takes only adaptive thinking, answers 200 to a request that asked for
# the budget form.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use File::Path qw(make_path);

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

# as in scripts/run-example.sh
my %mocks = (
    small => [9101, 'openai'], mid => [9102, 'openai'],
    frontier => [9103, 'openai'],
    thinking => [9104, 'openai', '--refuse', 'max_tokens,temperature'],
    haiku => [9111, 'anthropic'], sonnet => [9112, 'anthropic'],
    opus => [9113, 'anthropic', '--adaptive-only',
             '--refuse', 'temperature,top_p,top_k'],
);

my %by_port;

# the budget alerts' receiver, as the script starts it on 9200
$t->webhook('alerts');

for my $name (sort keys %mocks) {
    my ($port, $provider, @extra) = @{$mocks{$name}};
    $t->mock($name, args => ['--provider', $provider, @extra]);
    $by_port{$port} = $name;
}

open my $fh, '<', TierRouter::Test::repo() . '/examples/nginx.conf' or die;
my $conf = do { local $/; <$fh> };
close $fh;

my $n = 0;
$n += $conf =~ s/^load_module .*;/load_module %%MODULE%%;/m;
$n += $conf =~ s/127\.0\.0\.1:(91\d\d)/'127.0.0.1:%%PORT_mock_'
                                       . ($by_port{$1} \/\/ 'none') . '%%'/ge;
$n += $conf =~ s/listen  127\.0\.0\.1:8080;/listen 127.0.0.1:%%PORT_main%%;/;
$n += $conf =~ s{127\.0\.0\.1:9200/}{127.0.0.1:%%PORT_mock_alerts%%/};
ok($n >= 10, 'the example has its module, seven mocks, the alerts\' '
   . 'receiver and a listener');

# the harness's own pid file and error log
$conf =~ s/^(pid|error_log)\s.*;\n//mg;

make_path($t->testdir . '/logs');
make_path($t->testdir . '/state', { mode => 0700 });
chmod 0700, $t->testdir . '/state';

$t->write_config($conf);
$t->run;

sub post { $t->post_json(@_) }

my $HARD = 'Design a multi-region payment processing service: an API '
    . 'gateway, an idempotent ledger service with exactly-once semantics '
    . 'over Kafka, a fraud scoring service and a reconciliation job. Prove '
    . 'that the ledger stays consistent under network partitions, analyse '
    . 'the failure modes step by step, compare two-phase commit with the '
    . 'saga pattern, and write the ledger transfer function in Rust with '
    . 'tests. Then derive the worst-case latency of a cross-region '
    . 'transfer and optimise the design for p99 latency under 200 ms.';

my $r = post('/v1/messages',
    { model => 'auto', max_tokens => 1024,
      messages => [{ role => 'user', content => 'Why is the sky blue?' }] },
    'x-api-key' => 'sk-ant-example');
is($r->{status}, 200, 'messages: 200');
like($r->{json}{model} // '', qr/^claude-/, 'messages: a Claude model');
is($r->{json}{type}, 'message', 'messages: from a mock that speaks '
   . 'Anthropic\'s API');

$r = post('/v1/messages',
    { model => 'auto', max_tokens => 16000, temperature => 0.7,
      thinking => { type => 'enabled', budget_tokens => 8000 },
      messages => [{ role => 'user', content => $HARD }] },
    'x-api-key' => 'sk-ant-example');
is($r->{status}, 200, 'hard messages: 200 from the adaptive-only model');
is($r->{headers}{'x-mock-name'}, 'opus', 'hard messages: the Opus tier');
is($r->{json}{model}, 'claude-opus-4-5', 'hard messages: its model');

# a Claude Code session: its easy next turn stays on Opus, whose signed
# thinking it carries

my @sid = ('x-api-key' => 'sk-ant-example',
           'X-Claude-Code-Session-Id' => 'example-1');
my %think = (max_tokens => 16000,
             thinking => { type => 'enabled', budget_tokens => 8000 });

$r = post('/v1/messages', { model => 'auto', %think,
    messages => [{ role => 'user', content => $HARD }] }, @sid);
is($r->{headers}{'x-mock-name'}, 'opus', 'session, turn 1: Opus');
is($r->{json}{content}[0]{type}, 'thinking', '... which thought');

$r = post('/v1/messages', { model => 'auto', %think, messages => [
    { role => 'user', content => $HARD },
    { role => 'assistant', content => $r->{json}{content} },
    { role => 'user', content => 'Thanks. Which part first?' } ] }, @sid);
is($r->{status}, 200, 'session, turn 2 (easy): 200');
is($r->{headers}{'x-mock-name'}, 'opus', '... still on Opus, which signed '
   . 'the thinking it carries');

$r = post('/v1/chat/completions',
    { model => 'auto',
      messages => [{ role => 'user', content => 'Translate "hi" into '
                                                 . 'French.' }] },
    'Authorization' => 'Bearer sk-example');
is($r->{status}, 200, 'chat: 200');
like($r->{json}{model} // '', qr/^(gpt-|o3)/, 'chat: an OpenAI model');
is($r->{json}{object}, 'chat.completion', 'chat: an OpenAI answer');

$r = post('/v1/chat/completions',
    { model => 'auto', max_tokens => 4000, temperature => 0.5,
      reasoning_effort => 'high',
      messages => [{ role => 'user', content => $HARD x 2 }] },
    'Authorization' => 'Bearer sk-example');
is($r->{status}, 200, 'hard chat: 200 from the reasoning model that '
   . 'refuses max_tokens');
is($r->{headers}{'x-mock-name'}, 'thinking', 'hard chat: the o3 tier');

$r = post('/v1/responses', { model => 'auto', input => 'Say hello.' },
    'Authorization' => 'Bearer sk-example');
like($r->{json}{model} // '', qr/^(gpt-|o3)/, 'responses: an OpenAI model');
like($r->{headers}{'x-tier-router-cost'} // '', qr/^0\.\d{6}$/,
     'responses: its cost in a header');

# a trial tenant ($0.01) past its budget: three alerts

$r = post('/v1/chat/completions',
    { model => 'auto', messages => [{ role => 'user', content => 'Hi.' }] },
    'Authorization' => 'Bearer sk-example-trial', 'X-Plan' => 'trial',
    'X-Mock-Output-Tokens' => 30000);
is($r->{status}, 200, 'trial: 200');
ok($t->wait_for(sub { @{$t->webhook_posts('alerts')} >= 3 }),
   'trial: the receiver took three alerts');
is_deeply([map { $_->{body}{threshold_percent} }
           @{$t->webhook_posts('alerts')}], [80, 90, 100],
          'trial: at 80, 90 and 100%');

done_testing;
