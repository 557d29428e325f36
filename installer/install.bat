@echo off
rem Studio installer for Windows (double-click): runs install.ps1.
powershell -NoProfile -ExecutionPolicy Bypass -File "%~dp0install.ps1"
pause
