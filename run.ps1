<#
.SYNOPSIS
    streamlab on Windows: the same verbs as the Makefile.

.DESCRIPTION
    ./run.ps1 up       build the image and start the whole stack, print the URLs
    ./run.ps1 help     list every verb

    Needs Docker Desktop (docker compose) for the stack verbs and Go for the
    rest. Arguments after the verb are passed on to `streamlab chaos` and
    `streamlab dlq replay`, e.g. ./run.ps1 replay --reason late_event --since 30m
    CHAOS_COUNT, FUZZ_JSONSCAN, FUZZ_PARSE, FUZZ_PIPELINE and FUZZMINIMIZE in the
    environment work as in the Makefile.

.EXAMPLE
    ./run.ps1 up
    ./run.ps1 chaos-malformed
    ./run.ps1 replay
#>
# No [CmdletBinding()]: arguments such as --reason after the verb must land
# in $args untouched instead of being taken for PowerShell parameters.
param(
    [Parameter(Position = 0)]
    [string]$Verb = 'help'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Set-Location -LiteralPath $PSScriptRoot

$Rest = @($args)
$ChaosCount = if ($env:CHAOS_COUNT) { $env:CHAOS_COUNT } else { '500' }
# Execution counts, not durations: see the Makefile (golang/go#75804).
$FuzzJsonscan = if ($env:FUZZ_JSONSCAN) { $env:FUZZ_JSONSCAN } else { '200000x' }
$FuzzParse = if ($env:FUZZ_PARSE) { $env:FUZZ_PARSE } else { '250000x' }
$FuzzPipeline = if ($env:FUZZ_PIPELINE) { $env:FUZZ_PIPELINE } else { '60000x' }
$FuzzState = if ($env:FUZZ_STATE) { $env:FUZZ_STATE } else { '100000x' }
$FuzzMinimize = if ($env:FUZZMINIMIZE) { $env:FUZZMINIMIZE } else { '100x' }
$Actionlint = if ($env:ACTIONLINT) { $env:ACTIONLINT } else { 'github.com/rhysd/actionlint/cmd/actionlint@v1.7.12' }

# The verbs, in the Makefile's order; `help` prints this table.
$Help = [ordered]@{
    'help'                 = 'list the verbs'
    'build'                = 'build the one binary streamlab.exe'
    'test'                 = 'the fast suite: vet, gofmt, unit + oracle tests, short fuzz runs'
    'lint'                 = 'go vet, gofmt and actionlint on the CI workflow (shellcheck runs in make lint)'
    'fuzz'                 = 'run the scanner, parser and pipeline fuzz targets for a fixed number of executions each'
    'bench'                = 'engine and offline benchmarks (events/s, allocs/event)'
    'up'                   = 'build the image, start Kafka, ClickHouse, Grafana, Prometheus, Kafka UI and the services; print the URLs'
    'down'                 = 'stop the stack (data volumes are kept; ./run.ps1 down -v drops them)'
    'logs'                 = 'follow the logs of every service'
    'ps'                   = 'list the services and their health'
    'smoke'                = 'after up: every service healthy, dashboards in Grafana, data in ClickHouse and Prometheus, a chaos burst in the DLQ table (bash)'
    'demo'                 = 'the whole pipeline in one process with an embedded Kafka: no Docker needed'
    'e2e'                  = 'the slow suite (bash: WSL or Git Bash): real Kafka broker + chDB'
    'chaos-malformed'      = 'inject CHAOS_COUNT malformed messages into the raw topic'
    'chaos-late'           = 'inject CHAOS_COUNT events older than the allowed lateness'
    'chaos-stop-producer'  = 'stop the producer: windows stop advancing, the stall alert fires'
    'chaos-start-producer' = 'start the producer again: the stall alert resolves'
    'chaos-kill-processor' = 'SIGKILL the processor, then start it: it resumes from its checkpoint'
    'replay'               = 're-inject late dead letters into the raw topic (other ARGS: streamlab dlq replay ARGS)'
    'bench-kafka'          = 'streamlab processor vs Kafka Streams on a real broker, one core each (bash on Linux/WSL; BENCH_EVENTS, BENCH_ROUNDS)'
    'soak'                 = 'processor soak at 20k events/s of event time (bash on Linux/WSL; SOAK_DURATION)'
}

# Native commands do not stop the script on failure (ErrorActionPreference
# only covers cmdlets), so every call checks the exit code.
function Invoke-Native {
    param([string]$Exe, [string[]]$Arguments)
    Write-Host "> $Exe $($Arguments -join ' ')"
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe exited with code $LASTEXITCODE" }
}

function Invoke-Compose {
    param([string[]]$Arguments)
    Invoke-Native 'docker' (@('compose') + $Arguments)
}

function Get-Version {
    try {
        $v = & git describe --tags --always --dirty 2>$null
        if ($LASTEXITCODE -eq 0 -and $v) { return "$v".Trim() }
    } catch {
        # No git, or not a clone: fall through to "dev" like the Makefile.
    }
    return 'dev'
}

function Invoke-Lint {
    Invoke-Native 'go' @('vet', './...')
    $unformatted = & gofmt -l .
    if ($LASTEXITCODE -ne 0) { throw "gofmt exited with code $LASTEXITCODE" }
    if ($unformatted) {
        Write-Host 'gofmt needed:'
        $unformatted | ForEach-Object { Write-Host $_ }
        throw 'gofmt needed'
    }
    # As in the Makefile; shellcheck is left to make lint (it lints bash).
    $workflows = @(Get-ChildItem -Path '.github/workflows' -Filter '*.yml' | ForEach-Object { $_.FullName })
    Invoke-Native 'go' (@('run', $Actionlint) + $workflows)
}

# The benchmarks pin processes to cores with taskset and read /proc: Linux
# only, so WSL. Their settings pass through the environment, as with make.
function Invoke-Bench {
    param([string]$Name, [string]$Script)
    if (-not (Get-Command 'bash' -ErrorAction SilentlyContinue)) {
        throw "bash not found: install WSL (wsl --install), then run ./run.ps1 $Name again or ``make $Name`` inside WSL"
    }
    Invoke-Native 'bash' @($Script)
}

function Invoke-Fuzz {
    Invoke-Native 'go' @('test', '-run', '^$', '-fuzz', '^FuzzAgainstEncodingJSON$', '-fuzztime', $FuzzJsonscan, '-fuzzminimizetime', $FuzzMinimize, './internal/jsonscan')
    Invoke-Native 'go' @('test', '-run', '^$', '-fuzz', '^FuzzParse$', '-fuzztime', $FuzzParse, '-fuzzminimizetime', $FuzzMinimize, './internal/event')
    Invoke-Native 'go' @('test', '-run', '^$', '-fuzz', '^FuzzPipeline$', '-fuzztime', $FuzzPipeline, '-fuzzminimizetime', $FuzzMinimize, './internal/pipeline')
    Invoke-Native 'go' @('test', '-run', '^$', '-fuzz', '^FuzzRestoreParts$', '-fuzztime', $FuzzState, '-fuzzminimizetime', $FuzzMinimize, './internal/window')
}

switch ($Verb) {
    'help' {
        foreach ($k in $Help.Keys) { Write-Host ('  {0,-21} {1}' -f $k, $Help[$k]) }
    }
    'build' {
        $env:CGO_ENABLED = '0'
        $ldflags = "-s -w -X github.com/streamlab/streamlab/cli.Version=$(Get-Version)"
        Invoke-Native 'go' @('build', '-trimpath', '-ldflags', $ldflags, '-o', 'streamlab.exe', '.')
    }
    'test' {
        Invoke-Lint
        Invoke-Native 'go' @('test', '-count=1', './...')
        Invoke-Fuzz
    }
    'lint' { Invoke-Lint }
    'fuzz' { Invoke-Fuzz }
    'bench' {
        Invoke-Native 'go' @('test', '-run', '^$', '-bench', '.', '-benchmem', './internal/event', './internal/window', './internal/pipeline')
    }
    'up' {
        if (-not (Test-Path -LiteralPath '.env')) {
            Copy-Item -LiteralPath '.env.example' -Destination '.env'
            Write-Host 'created .env from .env.example (edit it for your Discord webhook)'
        }
        $env:VERSION = Get-Version
        Invoke-Compose @('up', '-d', '--build')
        Write-Host ''
        Write-Host 'streamlab is up (./run.ps1 ps shows health, ./run.ps1 logs follows the logs):'
        Write-Host '  Grafana     http://localhost:3000   dashboards open without login; admin password in .env'
        Write-Host '  Kafka UI    http://localhost:8080'
        Write-Host '  Prometheus  http://localhost:9090'
        Write-Host '  ClickHouse  http://localhost:8123/play   user default, password in .env (native: localhost:9000)'
        Write-Host '  Kafka       localhost:9094 from the host (e.g. go run . producer --brokers localhost:9094)'
    }
    'down' { Invoke-Compose (@('down') + $Rest) }
    'logs' { Invoke-Compose @('logs', '-f', '--tail=100') }
    'ps' { Invoke-Compose @('ps', '-a') }
    'smoke' {
        # The check is a bash script (curl, jq): Git Bash or WSL runs it
        # against the stack Docker Desktop publishes on localhost.
        if (-not (Get-Command 'bash' -ErrorAction SilentlyContinue)) {
            throw 'bash not found: install Git for Windows (Git Bash) or WSL, then run ./run.ps1 smoke again'
        }
        Invoke-Native 'bash' @('scripts/smoke.sh')
    }
    'demo' { Invoke-Native 'go' @('run', '.', 'demo') }
    'e2e' {
        # The slow suite drives a Kafka broker and chDB (linux x86_64 only)
        # from a bash script: run it in WSL, where Java 17+, Maven, npm and Go
        # are installed. Git Bash finds bash but cannot load chDB.
        Write-Host 'e2e needs bash on Linux (WSL): scripts/e2e.sh starts a Kafka broker (Java 17+, Maven) and loads chDB (npm, linux x86_64).'
        if (-not (Get-Command 'bash' -ErrorAction SilentlyContinue)) {
            throw 'bash not found: install WSL (wsl --install), then run ./run.ps1 e2e again or `make e2e` inside WSL'
        }
        Invoke-Native 'bash' @('scripts/e2e.sh')
    }
    'chaos-malformed' {
        Invoke-Compose (@('run', '--rm', 'cli', 'chaos', 'malformed', '--count', $ChaosCount) + $Rest)
    }
    'chaos-late' {
        Invoke-Compose (@('run', '--rm', 'cli', 'chaos', 'late', '--count', $ChaosCount) + $Rest)
    }
    'chaos-stop-producer' { Invoke-Compose @('stop', 'producer') }
    'chaos-start-producer' { Invoke-Compose @('start', 'producer') }
    'chaos-kill-processor' {
        Invoke-Compose @('kill', '-s', 'SIGKILL', 'processor')
        Start-Sleep -Seconds 2
        Invoke-Compose @('start', 'processor')
    }
    'replay' {
        # As in the Makefile: late events are the dead letters a replay can heal.
        if ($Rest.Count -eq 0) { $Rest = @('--reason', 'late_event') }
        Invoke-Compose (@('run', '--rm', 'cli', 'dlq', 'replay') + $Rest)
    }
    'bench-kafka' { Invoke-Bench 'bench-kafka' 'bench/kafka.sh' }
    'soak' { Invoke-Bench 'soak' 'bench/soak.sh' }
    default {
        Write-Host "unknown verb '$Verb'; the verbs are:"
        foreach ($k in $Help.Keys) { Write-Host ('  {0,-21} {1}' -f $k, $Help[$k]) }
        exit 2
    }
}
