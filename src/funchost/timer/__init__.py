"""Time for the timer trigger: NCRONTAB and TimeSpan schedules, time zones, and the
schedule monitor's status record (past-due decisions). Pure logic, no I/O. May import
`funchost.config`.
"""
