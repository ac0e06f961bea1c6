"""Operating an app's background work, from outside its functions: the poison and
dead-letter queues its triggers fill (list, show, replay, purge) and the jobs library's
status table (read only). Used by the dashboard (`funchost.http.dashboard`) and
`funchost poison`; written on funchost's own clients, never importing the app's `shared`
package.

May import `funchost.core`, `funchost.config` and `funchost.storage`.
"""
