"""``UserErrorCode``: when each code is given. The same codes are the ``extensions.code`` of
the public errors of queries (a malformed ID, a bad cursor, a rate limit)."""

from app.domain.errors import ErrorCode

USER_ERROR_CODE: dict[ErrorCode, str] = {
    ErrorCode.INVALID: (
        "The value breaks a rule of its field that no more specific code names, e.g. a "
        "quantity out of range, a malformed coupon code, PSP token, anonymous id or "
        "idempotency key, a page size or cursor that is not valid, a test clock moved "
        "backwards. `message` says which rule."
    ),
    ErrorCode.REQUIRED: "A value this operation needs is missing.",
    ErrorCode.BLANK: "A text is empty or only whitespace.",
    ErrorCode.TOO_LONG: "A text is longer than its field allows (`message` gives the limit).",
    ErrorCode.INVALID_ID: "Not a global ID issued by paygate.",
    ErrorCode.WRONG_ID_TYPE: (
        "A global ID of another type than the field expects, e.g. a price's ID where a "
        "product's is due."
    ),
    ErrorCode.NOT_FOUND: (
        "No such object, or one the caller may not see: another customer's object looks "
        "exactly like one that does not exist."
    ),
    ErrorCode.INVALID_EMAIL: "Not a valid email address.",
    ErrorCode.INVALID_COUNTRY: "Not an ISO 3166-1 alpha-2 country code (e.g. `US`, `DE`).",
    ErrorCode.INVALID_LOCALE: "Not a known locale: use a BCP 47 tag such as `en-US` or `de`.",
    ErrorCode.INVALID_METADATA: (
        "Metadata that breaks its limits: a JSON object of at most 50 keys of 1 to 40 "
        "characters, each value a string of at most 500."
    ),
    ErrorCode.UNKNOWN_CURRENCY: (
        "Not an ISO 4217 currency paygate accepts (codes of metals and funds, which have no "
        "minor unit, are not); `currencies` lists them."
    ),
    ErrorCode.INVALID_AMOUNT: (
        "Not an amount (a decimal string such as `12.30`, without exponent or thousands "
        "separators), or zero where an amount above zero is needed."
    ),
    ErrorCode.AMOUNT_TOO_PRECISE: (
        "More decimal places than the currency has, e.g. `1.234` USD (USD has 2, JPY 0)."
    ),
    ErrorCode.AMOUNT_OUT_OF_RANGE: "Beyond a signed 64-bit number of minor units.",
    ErrorCode.NEGATIVE_AMOUNT: "A negative amount.",
    ErrorCode.INVALID_INTERVAL: (
        "A billing interval longer than a year or shorter than one unit, e.g. 13 months."
    ),
    ErrorCode.INVALID_TRIAL: (
        "A trial on a one-time price, or of a length out of range: a price's trial is 1 to "
        "730 days, a subscription's or an experiment variant's 0 (none) to 730."
    ),
    ErrorCode.DUPLICATE_LOOKUP_KEY: (
        "Another price has this lookup key: pass `transferLookupKey: true` to move it to the "
        "new price."
    ),
    ErrorCode.CARD_DATA_NOT_ALLOWED: (
        "The input looks like a card number (a Luhn-valid run of 13 to 19 digits). paygate "
        "never accepts card data: collect it with the PSP's browser SDK and send its token."
    ),
    ErrorCode.PRODUCT_ARCHIVED: (
        "The product is archived: it takes no new prices or experiments until it is active again."
    ),
    ErrorCode.INVALID_URL: "Not an absolute http(s) URL.",
    ErrorCode.PSP_NOT_ENABLED: (
        "This PSP is not enabled in this deployment (`PAYGATE_ENABLED_PSPS`)."
    ),
    ErrorCode.PSP_UNAVAILABLE: (
        "The PSP could not be reached or did not act: nothing was charged, refunded or "
        "saved. Retry later; `message` says whether with the same idempotency key or a new "
        "one."
    ),
    ErrorCode.PSP_REJECTED: (
        "The PSP refused the request, e.g. a token it does not know or one saved for "
        "another customer; `message` carries its reason."
    ),
    ErrorCode.OPERATION_NOT_SUPPORTED: (
        "This cannot be done here: the PSP does not offer it (a currency, manual or partial "
        "capture) or paygate does not (a price change of a subscription of several items, "
        "test clocks in production)."
    ),
    ErrorCode.PAYMENT_METHOD_DETACHED: (
        "The payment method was detached: it can no longer be charged or made the default."
    ),
    ErrorCode.PAYMENT_METHOD_REQUIRED: (
        "No payment method was named and the customer has no default one."
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "This idempotency key was used for another request (another input or operation); "
        "nothing was done. Use a new key for a new operation."
    ),
    ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS: (
        "A request with this idempotency key is still running: retry shortly with the same "
        "key to get its result."
    ),
    ErrorCode.SECRET_NOT_REPLAYED: (
        "A replay of this idempotency key: the secret the first answer showed once (an API "
        "key, a customer token) is never stored, so it comes back null. The object is the "
        "same; if the secret was lost, make a new one."
    ),
    ErrorCode.RETRY_NOT_ALLOWED: (
        "The card networks' rules forbid charging this payment method again for this invoice "
        "(a decline that must not be retried, or the retry cap reached): pay with another one."
    ),
    ErrorCode.PAYMENT_DECLINED: (
        "The payment was declined: the payload's payment has `status: FAILED` and its "
        "`decline` (code, a message to show, retry advice)."
    ),
    ErrorCode.RISK_BLOCKED: (
        "The risk rules refused the charge or the payment method before the PSP saw it; "
        "nothing was charged. A charge is recorded as a failed payment (decline "
        "`fraudulent`, never retried); staff see why in `Payment.risk`."
    ),
    ErrorCode.INVALID_STATE: (
        "The object's status does not allow this, e.g. capturing a failed payment, refunding "
        "a payment with nothing captured, voiding a paid invoice, pausing a canceled "
        "subscription, starting a concluded experiment. `message` says why."
    ),
    ErrorCode.CURRENCY_MISMATCH: (
        "A currency other than the one required: the payment's (captures, refunds) or the "
        "experiment's (its variants' prices and coupons)."
    ),
    ErrorCode.AMOUNT_EXCEEDS_CAPTURABLE: (
        "A capture of zero, or of more than the payment's `amountCapturable`."
    ),
    ErrorCode.CREDIT_EXCEEDS_CREDITABLE: (
        "A credit note of zero, or of more than is left to credit of the invoice (or of a "
        "line, or of what the invoice still owes, or of what its payment can refund)."
    ),
    ErrorCode.CREDIT_NOTE_REFUNDED: (
        "The credit note refunded money: a refund made cannot be undone, so the note cannot "
        "be voided (issue a new invoice instead)."
    ),
    ErrorCode.CREDIT_BALANCE_SPENT: (
        "The credit balance a credit note gave was already used by an invoice: the note "
        "cannot be voided."
    ),
    ErrorCode.REFUND_EXCEEDS_CAPTURED: (
        "A refund of zero, or of more than is left to refund: what was captured less what "
        "is refunded or being refunded."
    ),
    ErrorCode.INVALID_COUPON: (
        "No coupon can be redeemed with this code: unknown or inactive, expired, fully "
        "redeemed, or for prices in another currency."
    ),
    ErrorCode.DUPLICATE_CODE: (
        "A coupon with this code exists, or an active promotion code with this code."
    ),
    ErrorCode.INVALID_PROMOTION_CODE: (
        "This promotion code does not apply: the message says why (unknown, inactive, "
        "expired, fully redeemed, for first orders only, below its minimum amount, for "
        "another customer, or for prices in another currency). `validatePromotionCode` "
        "answers the same reason as an enum."
    ),
    ErrorCode.RATE_LIMITED: (
        "Too many requests from this caller: an error of the request (not a user error), "
        "with `extensions.retryAfterSeconds`."
    ),
    ErrorCode.REFUND_LIMIT_EXCEEDED: (
        "More than the caller's role may refund in one refund (the support role's limit is "
        "`PAYGATE_AUTH__SUPPORT_REFUND_LIMIT`): ask an admin."
    ),
    ErrorCode.TOKENS_NOT_CONFIGURED: (
        "paygate cannot sign customer tokens here: set `PAYGATE_AUTH__JWT_SECRET` (with "
        "`PAYGATE_AUTH__JWKS_URL`, your identity provider signs them instead)."
    ),
    ErrorCode.CUSTOMER_ERASED: (
        "The customer's personal data was erased (`eraseCustomer`): they can no longer be "
        "charged, subscribed, given a payment method or changed."
    ),
    ErrorCode.DUPLICATE_KEY: "An experiment with this key exists.",
    ErrorCode.URL_NOT_HTTPS: (
        "A webhook endpoint's URL must use `https://` in production (plain `http://` is "
        "accepted in development only)."
    ),
    ErrorCode.URL_NOT_ALLOWED: (
        "A webhook endpoint's URL names, or resolves to, a private, loopback, link-local or "
        "reserved address, or cannot be resolved: refused in production unless its host is "
        "in `PAYGATE_WEBHOOKS__ALLOWED_HOSTS`."
    ),
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: (
        "A live subscription over the connection's limit of active subscriptions "
        "(`PAYGATE_LIVE__MAX_SUBSCRIPTIONS`): complete one first, or open another connection."
    ),
    ErrorCode.SUBSCRIBER_TOO_SLOW: (
        "A live `events` subscription fell further behind than its buffer holds and was "
        "ended: read on with the `events(after:)` query from the last `sequence` received."
    ),
    ErrorCode.UNKNOWN_METER: "No active meter has this key (usage events).",
    ErrorCode.UNKNOWN_CUSTOMER: "No such customer or subscription (usage events).",
    ErrorCode.TIMESTAMP_TOO_OLD: (
        "A usage event more than 35 days older than the customer's clock."
    ),
    ErrorCode.TIMESTAMP_IN_FUTURE: (
        "A usage event more than 5 minutes ahead of the customer's clock."
    ),
    ErrorCode.VALUE_NOT_NUMERIC: (
        "A usage event's value (or its meter's value property) is not a decimal number."
    ),
    ErrorCode.TOO_MANY_PROPERTIES: (
        "A usage event has more than 20 properties, or one too long or not a scalar."
    ),
    ErrorCode.EVIDENCE_ALREADY_SUBMITTED: (
        "The dispute's evidence was submitted already (a PSP takes one submission)."
    ),
    ErrorCode.EVIDENCE_PAST_DUE: "The dispute's `evidenceDueBy` has passed.",
    ErrorCode.DISPUTE_CLOSED: "The dispute is won, lost or closed: it takes no evidence.",
    ErrorCode.EVIDENCE_EMPTY: "There is no evidence to submit: draft it first.",
    ErrorCode.FILE_TOO_LARGE: "A file is larger than its purpose allows (5 MB for evidence).",
    ErrorCode.FILE_TYPE_NOT_ALLOWED: (
        "A file's content is not of a type its purpose allows (PDF, JPEG or PNG for "
        "evidence), whatever its declared type."
    ),
}
