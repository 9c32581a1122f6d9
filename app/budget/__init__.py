"""The fleet-wide Directo budget on Redis: a lease semaphore per Directo connection that
every job, worker process and API replica of a deployment shares (`directo.RedisBudget`
implements `app.directo.budget.DirectoBudget`). It sits beside `app.queue`: below the
resources that open it, above the Directo client that uses it."""
