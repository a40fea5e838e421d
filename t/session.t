#!/usr/bin/perl

# Sessions: a conversation's tier only moves up; an agent loop whose
# history carries thinking blocks (or reasoning items, or a stored
# response) never crosses models; a regenerate goes one tier up; idle
# sessions start anew; a full zone lets the least recently used go.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;

$t->mock($_) for qw(small mid frontier);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    tier_router_session_zone zone=sessions:1m idle=10m regenerate=60s;
    tier_router_session_zone zone=tiny:32k;

    %%THREE_TIERS%%

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router on;
        tier_router_budget_clock $http_x_clock;
        tier_router_session zone=sessions;

        location /v1/ {
            proxy_pass http://$tier_router_upstream;
        }

        location /key/v1/ {
            tier_router_session zone=sessions key=$http_x_conversation;
            proxy_pass http://$tier_router_upstream;
        }

        location /tiny/v1/ {
            tier_router_session zone=tiny;
            proxy_pass http://$tier_router_upstream;
        }

        location /strip/v1/ {
            tier_router_session zone=sessions key=$http_x_conversation
                                signed=strip;
            tier_router_max_tier $http_x_cap;
            proxy_pass http://$tier_router_upstream;
        }

        location /pin/v1/ {
            tier_router_session zone=sessions key=$http_x_conversation;
            tier_router_max_tier $http_x_cap;
            proxy_pass http://$tier_router_upstream;
        }

        location /fb/v1/ {
            tier_router_session zone=sessions key=$http_x_conversation
                                signed=strip;
            tier_router_fallback http_503;
            proxy_pass http://$tier_router_upstream;
        }

        location /off/v1/ {
            tier_router_session off;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $EASY = TierRouter::Test::easy_prompt();
my $HARD = TierRouter::Test::hard_prompt();

my $T0 = 1794744000;

sub tier_of { $_[0]{headers}{'x-tier-router-tier'} // '' }
sub reason_of { $_[0]{headers}{'x-tier-router-reason'} // '' }

sub chat {
    my ($path, $messages, %o) = @_;

    return $t->post_json($path,
        { model => 'auto', max_tokens => 100, messages => $messages,
          %{$o{body} // {}} },
        'X-Clock' => $o{clock} // $T0, @{$o{headers} // []});
}

sub user { { role => 'user', content => $_[0] } }

# -- an Anthropic agent loop: thinking blocks never cross models ------------

my @sid = ('X-Claude-Code-Session-Id' => 'cc-1');

my $r = chat('/v1/messages', [user($HARD)], headers => \@sid);
is(tier_of($r), 'frontier', 'agent loop, turn 1 (hard): frontier');

my @loop = (user($HARD),
    { role => 'assistant', content => [
        { type => 'thinking', thinking => 'Let me look.',
          signature => 'EqQBCkgIARABGAIiQL2' },
        { type => 'tool_use', id => 'tu_1', name => 'read_file',
          input => { path => 'a.go' } } ] },
    { role => 'user', content => [
        { type => 'tool_result', tool_use_id => 'tu_1',
          content => 'ok' } ] });

$r = chat('/off/v1/messages', \@loop, headers => \@sid);
is(tier_of($r), 'small', 'control, no session: the tool result alone is '
   . 'routine, and would cross to small');

for my $turn (2 .. 4) {
    $r = chat('/v1/messages', \@loop, headers => \@sid);
    is(tier_of($r), 'frontier', "agent loop, turn $turn: on the model that "
       . 'signed its thinking');
    like(reason_of($r), qr/(^|,)session_pinned(,|$)/,
         "agent loop, turn $turn: the reason says why");

    push @loop,
        { role => 'assistant', content => [
            { type => 'redacted_thinking', data => 'EmwKAhgB' },
            { type => 'tool_use', id => "tu_$turn", name => 'run',
              input => {} } ] },
        { role => 'user', content => [
            { type => 'tool_result', tool_use_id => "tu_$turn",
              content => 'done' } ] };
}

# -- a cached conversation stays on its tier; never down ---------------------

$r = chat('/v1/chat/completions', [user($HARD)],
          body => { prompt_cache_key => 'pk-1' });
is(tier_of($r), 'frontier', 'prompt_cache_key session, hard: frontier');

$r = chat('/v1/chat/completions', [user($HARD), { role => 'assistant',
          content => 'Here is a design.' }, user($EASY)],
          body => { prompt_cache_key => 'pk-1' });
is(tier_of($r), 'frontier', '... its easy turn stays: the cache is warm');
like(reason_of($r), qr/(^|,)session(,|$)/, '... reason session');

$r = chat('/v1/chat/completions', [user($EASY)],
          body => { prompt_cache_key => 'pk-2' });
is(tier_of($r), 'small', 'another cache key: classified on its own');

# -- no key: the conversation's opening names it -----------------------------

my @open = ({ role => 'system', content => 'You are terse.' }, user($HARD));

$r = chat('/v1/chat/completions', [@open]);
is(tier_of($r), 'frontier', 'no key, hard opening: frontier');

$r = chat('/v1/chat/completions',
          [@open, { role => 'assistant', content => 'Sure.' }, user($EASY)]);
is(tier_of($r), 'frontier', 'the same opening, grown: the same session');

$r = chat('/v1/chat/completions',
          [{ role => 'system', content => 'You are verbose.' }, user($HARD),
           { role => 'assistant', content => 'Sure.' }, user($EASY)]);
is(tier_of($r), 'small', 'another system prompt: another session, not '
   . 'seen before, classified by its easy last turn');

# -- a regenerate goes one tier up --------------------------------------------

my @conv = ('X-Conversation' => 'regen-1');

$r = chat('/key/v1/chat/completions', [user($EASY)], headers => \@conv);
is(tier_of($r), 'small', 'regenerate: the first answer, small');

$r = chat('/key/v1/chat/completions', [user($EASY)], headers => \@conv,
          clock => $T0 + 20);
is(tier_of($r), 'mid', 'the same turn again within 60 s: one up');
like(reason_of($r), qr/session_regenerate/, '... the reason says so');

$r = chat('/key/v1/chat/completions', [user($EASY)], headers => \@conv,
          clock => $T0 + 40);
is(tier_of($r), 'frontier', 'and again: one more up');

$r = chat('/key/v1/chat/completions',
          [user($EASY), { role => 'assistant', content => 'Bonjour.' },
           { role => 'user', content => 'And in German?' }],
          headers => \@conv, clock => $T0 + 50);
is(tier_of($r), 'frontier', 'the conversation going on: not down');
unlike(reason_of($r), qr/regenerate/, '... and not a regenerate');

@conv = ('X-Conversation' => 'regen-2');
chat('/key/v1/chat/completions', [user($EASY)], headers => \@conv);
$r = chat('/key/v1/chat/completions', [user($EASY)], headers => \@conv,
          clock => $T0 + 61);
is(tier_of($r), 'small', 'the same turn after the window: no escalation');

# an OpenAI tool loop keeps its last user turn: the history grows, so it
# is no regenerate

@conv = ('X-Conversation' => 'tools-1');
my @tl = (user($EASY));
$r = chat('/key/v1/chat/completions', [@tl], headers => \@conv);
push @tl, { role => 'assistant', content => undef, tool_calls => [
              { id => 'c1', type => 'function',
                function => { name => 'f', arguments => '{}' } } ] },
          { role => 'tool', tool_call_id => 'c1', content => 'ok' };
$r = chat('/key/v1/chat/completions', [@tl], headers => \@conv,
          clock => $T0 + 5);
is(tier_of($r), 'small', 'a tool loop turn: the same last user turn, a '
   . 'longer history: no regenerate');

# -- reasoning items and stored responses stay on their model ---------------

@conv = ('X-Conversation' => 'resp-1');
$r = $t->post_json('/key/v1/responses', { model => 'auto', input => $HARD },
                   'X-Clock' => $T0, @conv);
is(tier_of($r), 'frontier', 'responses, hard: frontier');

$r = $t->post_json('/key/v1/responses',
    { model => 'auto', input => 'Thanks!', previous_response_id => 'resp_1' },
    'X-Clock' => $T0 + 5, @conv);
is(tier_of($r), 'frontier', 'previous_response_id: on its model');
like(reason_of($r), qr/session_pinned/, '... pinned');

$r = $t->post_json('/key/v1/responses',
    { model => 'auto', input => [
        { type => 'reasoning', id => 'rs_1', summary => [],
          encrypted_content => 'gAAAAB' },
        { role => 'user', content => 'Thanks!' } ] },
    'X-Clock' => $T0 + 6, @conv);
is(tier_of($r), 'frontier', 'an encrypted reasoning item: on its model');

# -- a previous_response_id chain, with nothing else to name it -------------

sub respond {
    my ($input, $prev, %o) = @_;

    return $t->post_json('/v1/responses',
        { model => 'auto', input => $input,
          ($prev ? (previous_response_id => $prev) : ()),
          %{$o{body} // {}} },
        'X-Clock' => $o{clock} // $T0);
}

sub id_of {
    my ($r) = @_;
    my $id = (eval { decode_json($r->{body}) } // {})->{id};
    return $id if $id;
    return $1 if $r->{body} =~ /"id":"(resp_[^"]+)"/;
    return '';
}

$r = respond($HARD);
is(tier_of($r), 'frontier', 'chain, turn 1 (hard): frontier');
my $id1 = id_of($r);
like($id1, qr/^resp_/, '... a stored response');

$r = respond('Thanks!', 'resp_never_seen', clock => $T0 + 1);
is(tier_of($r), 'small', 'control: an unknown previous_response_id is '
   . 'routed by its own input');

$r = respond('Thanks!', $id1, clock => $T0 + 2);
is(tier_of($r), 'frontier', 'chain, turn 2 (easy): on the model that made '
   . 'the response');
like(reason_of($r), qr/session_pinned/, '... pinned');
my $id2 = id_of($r);
isnt($id2, $id1, '... a new response');

$r = respond('Thanks again!', $id2, clock => $T0 + 3);
is(tier_of($r), 'frontier', 'chain, turn 3: the new response is kept too');

$r = respond('Thanks!', $id1, clock => $T0 + 4);
is(tier_of($r), 'frontier', 'a fork from turn 1: on its model');

$r = respond($EASY);
is(tier_of($r), 'small', 'another chain, turn 1 (easy): small');
my $id3 = id_of($r);

$r = respond($HARD, $id3, clock => $T0 + 5);
is(tier_of($r), 'small', 'its turn 2 (hard) stays on small: the chain\'s '
   . 'state belongs to small');

$r = respond($HARD, undef, body => { stream => JSON::PP::true() });
is(tier_of($r), 'frontier', 'a streamed chain, turn 1: frontier');
my $id4 = id_of($r);
like($id4, qr/^resp_/, '... its id read from the stream');

$r = respond('Thanks!', $id4, clock => $T0 + 6);
is(tier_of($r), 'frontier', 'the streamed response is kept as well');

$r = respond('Thanks!', $id1, clock => $T0 + 4 + 11 * 60);
is(tier_of($r), 'small', 'a response idle 11 minutes (idle=10m): anew');

# -- signed=strip: a deliberate switch strips the signed blocks -------------

sub echoed {
    my ($r) = @_;
    return eval { decode_json($r->{body}) } // {};
}

my @think = (user($HARD),
    { role => 'assistant', content => [
        { type => 'thinking', thinking => 'Let me look at a.go.',
          signature => 'EqQBCkgIARABGAIiQL2' },
        { type => 'tool_use', id => 'tu_1', name => 'read_file',
          input => { path => 'a.go' } } ] },
    { role => 'user', content => [
        { type => 'tool_result', tool_use_id => 'tu_1', content => 'ok' } ] });
my %thinking = (thinking => { type => 'enabled', budget_tokens => 2048 },
                max_tokens => 4096);

for my $loc (qw(strip pin)) {
    @conv = ('X-Conversation' => "sign-$loc");
    $r = chat("/$loc/v1/messages", [user($HARD)], headers => \@conv);
    is(tier_of($r), 'frontier', "$loc: turn 1 (hard) on frontier");
}

@conv = ('X-Conversation' => 'sign-strip');
$r = chat('/strip/v1/messages', \@think, headers => [@conv,
          'X-Mock-Echo' => 1], body => \%thinking);
my $e = echoed($r);
is(tier_of($r), 'frontier', 'strip: on the signing model, nothing to do');
is($e->{messages}[1]{content}[0]{signature}, 'EqQBCkgIARABGAIiQL2',
   '... the signature goes as it came');
ok($e->{thinking}, '... and thinking stays on');

$r = chat('/strip/v1/messages', \@think, headers => [@conv, 'X-Cap' => 'mid',
          'X-Mock-Echo' => 1], body => \%thinking);
$e = echoed($r);
is(tier_of($r), 'mid', 'strip: the cap moves it to mid');
like(reason_of($r), qr/(^|,)session_stripped(,|$)/, '... the reason says so');
is($e->{model}, 'mid-model', '... mid\'s model');
is_deeply($e->{messages}[1]{content}[0],
          { type => 'text', text => 'Let me look at a.go.' },
          '... the thinking block is its readable text');
unlike($r->{body}, qr/signature|EqQB/, '... no signature is sent');
ok(!exists $e->{thinking}, '... thinking is off: the tool loop\'s last '
   . 'turn lost its thinking');
is($e->{messages}[1]{content}[1]{type}, 'tool_use', '... the tool call '
   . 'stays');
is($r->{headers}{'content-length'}, length $r->{body},
   '... sent with its own length');

@conv = ('X-Conversation' => 'sign-pin');
$r = chat('/pin/v1/messages', \@think, headers => [@conv, 'X-Cap' => 'mid',
          'X-Mock-Echo' => 1], body => \%thinking);
is(tier_of($r), 'mid', 'pin (the default): the cap wins as well');
like($r->{body}, qr/EqQBCkgIARABGAIiQL2/, '... but the blocks go as they '
   . 'are: the operator did not allow a strip');

# a harder turn moves a signed session up, with signed=strip only

for my $loc (qw(strip pin)) {
    @conv = ('X-Conversation' => "up-$loc");
    chat("/$loc/v1/messages", [user($EASY)], headers => \@conv);

    my @h = (user($EASY),
        { role => 'assistant', content => [
            { type => 'thinking', thinking => 'Easy.', signature => 'sig-s' },
            { type => 'text', text => 'Bonjour.' } ] },
        user($HARD));

    $r = chat("/$loc/v1/messages", \@h, headers => [@conv,
              'X-Mock-Echo' => 1], clock => $T0 + 5);

    if ($loc eq 'strip') {
        is(tier_of($r), 'frontier', 'strip: a hard turn goes up');
        unlike($r->{body}, qr/sig-s/, '... without the small model\'s '
               . 'signature');
        is_deeply(echoed($r)->{messages}[1]{content},
                  [{ type => 'text', text => 'Easy.' },
                   { type => 'text', text => 'Bonjour.' }],
                  '... its thinking kept readable');

    } else {
        is(tier_of($r), 'small', 'pin: a hard turn stays on the model that '
           . 'signed');
        like($r->{body}, qr/sig-s/, '... its blocks as they came');
    }
}

# reasoning items: the summary is kept as the assistant's words

@conv = ('X-Conversation' => 'rs-strip');
$t->post_json('/strip/v1/responses', { model => 'auto', input => $EASY },
              'X-Clock' => $T0, @conv);
$r = $t->post_json('/strip/v1/responses', { model => 'auto', input => [
        { role => 'user', content => $EASY },
        { type => 'reasoning', id => 'rs_9', encrypted_content => 'gAAAAB9',
          summary => [{ type => 'summary_text', text => 'Say bonjour.' }] },
        { role => 'assistant', content => 'Bonjour.' },
        { role => 'user', content => $HARD } ] },
    'X-Clock' => $T0 + 5, 'X-Mock-Echo' => 1, @conv);
$e = echoed($r);
is(tier_of($r), 'frontier', 'responses, strip: a hard turn goes up');
unlike($r->{body}, qr/gAAAAB9|rs_9/, '... no encrypted reasoning is sent');
is_deeply($e->{input}[1], { type => 'message', role => 'assistant',
          content => [{ type => 'output_text', text => 'Say bonjour.' }] },
          '... its summary is');

# a fallback from the signing tier strips the next attempt's body only

@conv = ('X-Conversation' => 'fb-strip');
chat('/fb/v1/messages', [user($EASY)], headers => \@conv);

my @small_loop = (user($EASY),
    { role => 'assistant', content => [
        { type => 'thinking', thinking => 'Look it up.', signature => 'sig-f' },
        { type => 'tool_use', id => 'tu_f', name => 'lookup', input => {} } ] },
    { role => 'user', content => [
        { type => 'tool_result', tool_use_id => 'tu_f', content => 'ok' } ] });

$r = chat('/fb/v1/messages', \@small_loop, clock => $T0 + 5,
          body => \%thinking, headers => [@conv,
          'X-Mock-At-small-Status' => 503, 'X-Mock-At-mid-Echo' => 1]);
$e = echoed($r);
is($r->{headers}{'x-tier-router-path'}, 'small:503 mid',
   'fallback: small (which signed) failed, mid answered');
is($e->{model}, 'mid-model', '... with mid\'s model');
unlike($r->{body}, qr/sig-f/, '... and a body without small\'s signature');
is_deeply($e->{messages}[1]{content}[0],
          { type => 'text', text => 'Look it up.' }, '... its thinking as text');
ok(!exists $e->{thinking}, '... thinking off for the tool loop');

$r = chat('/fb/v1/messages', \@small_loop, clock => $T0 + 100,
          body => \%thinking, headers => [@conv, 'X-Mock-Echo' => 1]);
like($r->{body}, qr/sig-f/, 'no fallback (and past the regenerate window): '
     . 'small gets its own blocks back');
ok(echoed($r)->{thinking}, '... and thinking');

# -- an agent loop against models that check their signatures, as the
#    providers do (the mock signs thinking with its model's name and
#    refuses another's with a 400)

sub agent_loop {
    my ($path, $key, %o) = @_;
    my @msgs = (user($HARD));
    my @seen;

    for my $turn (1 .. 4) {
        my @h = ('X-Conversation' => $key);
        push @h, 'X-Cap' => $o{cap} if $o{cap_from} && $turn >= $o{cap_from};

        my $r = chat($path, [@msgs], headers => \@h, body => \%thinking,
                     clock => $T0 + 100 * $turn);
        push @seen, "$r->{status}:" . tier_of($r);
        last unless $r->{status} == 200;

        push @msgs, { role => 'assistant', content => echoed($r)->{content} },
                    user("Thanks. Now step $turn, briefly.");
    }

    return join ' ', @seen;
}

is(agent_loop('/off/v1/messages', 'al-off'), '200:frontier 400:small',
   'control, no session: turn 2 crosses to small, which refuses '
   . 'frontier\'s signature');
is(agent_loop('/pin/v1/messages', 'al-pin'),
   '200:frontier 200:frontier 200:frontier 200:frontier',
   'a session: four turns, never across models');
is(agent_loop('/pin/v1/messages', 'al-pin-cap', cap => 'mid', cap_from => 3),
   '200:frontier 200:frontier 400:mid',
   'signed=pin and a cap at turn 3: the cap wins, and mid refuses');
is(agent_loop('/strip/v1/messages', 'al-strip', cap => 'mid',
              cap_from => 3),
   '200:frontier 200:frontier 200:mid 200:mid',
   'signed=strip and a cap at turn 3: mid answers, from then on on its '
   . 'own signatures');

# the same for OpenAI reasoning items

sub reasoning_loop {
    my ($path, $key, %o) = @_;
    my @input = (user($HARD));
    my @seen;

    for my $turn (1 .. 3) {
        my @h = ('X-Conversation' => $key, 'X-Clock' => $T0 + 100 * $turn);
        push @h, 'X-Cap' => $o{cap} if $o{cap_from} && $turn >= $o{cap_from};

        my $r = $t->post_json($path, { model => 'auto', input => [@input],
            include => ['reasoning.encrypted_content'], store => \0 }, @h);
        push @seen, "$r->{status}:" . tier_of($r);
        last unless $r->{status} == 200;

        push @input, @{ echoed($r)->{output} },
                     user("Thanks. Now step $turn, briefly.");
    }

    return join ' ', @seen;
}

is(reasoning_loop('/off/v1/responses', 'rl-off'), '200:frontier 400:small',
   'responses, no session: crosses, and is refused');
is(reasoning_loop('/pin/v1/responses', 'rl-pin'),
   '200:frontier 200:frontier 200:frontier', 'responses, a session: never '
   . 'across');
is(reasoning_loop('/strip/v1/responses', 'rl-strip', cap => 'small',
                  cap_from => 2),
   '200:frontier 200:small 200:small',
   'responses, signed=strip and a cap: small answers');

# -- pre-warm: max_tokens 0 goes to the session's tier -----------------------

$r = chat('/v1/messages', [user($EASY)], headers => \@sid,
          body => { max_tokens => 0 });
is(tier_of($r), 'frontier', 'a pre-warm (max_tokens 0): the session\'s tier');
like(reason_of($r), qr/session_prewarm/, '... the reason says so');

# -- idle: a session forgotten after its idle time ---------------------------

@conv = ('X-Conversation' => 'idle-1');
chat('/key/v1/chat/completions', [user($HARD)], headers => \@conv);

$r = chat('/key/v1/chat/completions', [user('Thanks, and hi.')],
          headers => \@conv, clock => $T0 + 9 * 60);
is(tier_of($r), 'frontier', 'idle 9 minutes of 10: the session holds');

$r = chat('/key/v1/chat/completions', [user('Thanks, and bye.')],
          headers => \@conv, clock => $T0 + 20 * 60);
is(tier_of($r), 'small', 'idle 11 minutes: anew');

# -- a full zone: the least recently used go ---------------------------------

$r = chat('/tiny/v1/chat/completions', [user($HARD)],
          body => { prompt_cache_key => 'first' });
is(tier_of($r), 'frontier', 'tiny zone: the first session, frontier');

for my $i (1 .. 600) {
    chat('/tiny/v1/chat/completions', [user($EASY)],
         body => { prompt_cache_key => "filler-$i" });
}

$r = chat('/tiny/v1/chat/completions', [user($HARD)],
          body => { prompt_cache_key => 'last' });
$r = chat('/tiny/v1/chat/completions', [user($EASY)],
          body => { prompt_cache_key => 'last' });
is(tier_of($r), 'frontier', 'after 600 more: a recent session holds');

$r = chat('/tiny/v1/chat/completions', [user($EASY)],
          body => { prompt_cache_key => 'first' });
is(tier_of($r), 'small', '... the first was let go, classified anew');
is($r->{status}, 200, '... and served');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
       'no alerts in the error log');

# -- nginx -t -----------------------------------------------------------------

my $c = TierRouter::Test->new;

for my $case (
    [ "tier_router_session zone=nope;", '',
      qr/"tier_router_session": no "tier_router_session_zone" "nope"/ ],
    [ "tier_router_session key=\$x;", '', qr/must have "zone" parameter/ ],
    [ '', 'tier_router_session_zone zone=s:1m idle=soon;',
      qr/invalid parameter "idle=soon"/ ],
    [ '', 'tier_router_session_zone zone=s:1k;', qr/is too small/ ],
) {
    my ($loc, $http, $re) = @$case;

    $c->write_config(<<"EOF");
http {
    tier_router_tier small model=m upstream=127.0.0.1:1;
    $http
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location / {
            tier_router on;
            $loc
            proxy_pass http://\$tier_router_upstream;
        }
    }
}
EOF
    my ($rc, $out) = $c->test_config;
    isnt($rc, 0, "nginx -t refuses: $loc$http");
    like($out, $re, '... and says why') or diag($out);
}

done_testing;
