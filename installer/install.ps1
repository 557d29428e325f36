# Studio installer for Windows: sets up .venv through the launcher, then a desktop shortcut.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
$py = $null
foreach ($cand in @("py -3.13", "py -3.12", "py -3.11", "python")) {
    $exe, $arg = $cand.Split(" ", 2)
    if (Get-Command $exe -ErrorAction SilentlyContinue) {
        & $exe $arg -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>$null
        if ($LASTEXITCODE -eq 0) { $py = $cand; break }
    }
}
if (-not $py) { Write-Error "studio: Python 3.11 or newer is needed; install it from python.org (tick 'Add to PATH')."; exit 1 }
$exe, $arg = $py.Split(" ", 2)
& $exe $arg launcher.py setup
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
& $exe $arg installer\shortcut.py
Write-Host "studio: installed. Start it from the desktop shortcut or with: $py launcher.py"
