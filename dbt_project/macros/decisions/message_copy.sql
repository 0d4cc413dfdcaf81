{#- Default short copy per scenario for channels that need a title and a
    body (SMS, push). The sending tool usually renders its own templates
    from the payload; this is what a destination gets when it does not.
    An SQL case expression over a scenario id column. -#}
{% macro kairos_message_copy(scenario_col, part) -%}
    {%- set copy = {
        'welcome_series': ('Welcome to Kairos', 'Welcome! Here is how to get the most out of your account.'),
        'abandoned_cart': ('Your cart is waiting', 'You left something in your cart. It is still there for you.'),
        'abandoned_browse': ('Still thinking about it?', 'The product you looked at is still available.'),
        'abandoned_category': ('Ideas for you', 'We picked a few favourites from the category you browsed.'),
        'birthday': ('Happy birthday!', 'Happy birthday from all of us at Kairos.'),
        'registration_anniversary': ('Happy anniversary', 'Thank you for another year with Kairos.'),
        'review_request': ('How was your order?', 'Tell us what you think of your recent order.'),
        'post_purchase_thank_you': ('Thank you for your order', 'Thank you! You might also like this.'),
        'cross_sell': ('Goes well with your purchase', 'A perfect match for what you bought recently.'),
        'upsell': ('Ready for an upgrade?', 'A step up from what you bought recently.'),
        'loyalty_points_expiring': ('Your points expire soon', 'Use your loyalty points before they expire.'),
        'back_in_stock': ('Back in stock', 'Good news: a product you wanted is back in stock.'),
        'price_drop': ('Price drop', 'A product you looked at now costs less.'),
        'post_purchase_care': ('Getting started', 'Tips to get the most out of your new purchase.'),
        'replenishment': ('Time to restock?', 'You may be running low. Reorder in one tap.'),
        'subscription_renewal': ('Your plan renews soon', 'Your plan renews soon. No action is needed to continue.'),
        'consent_refresh': ('Stay in touch?', 'Do you still want to hear from us? Confirm in one click.'),
        'event_reminder': ('See you at the store', 'A store event near you is coming up.'),
        'win_back': ('We miss you', 'It has been a while. Here is what is new.'),
        'churn_risk_retention': ('A little thank-you', 'A special offer for a valued customer.'),
        'realtime_upsell': ('Have you seen this?', 'A premium option of what you are looking at.'),
        'weather_offer': ('Weather alert', 'The weather is turning. We have what you need.'),
        'b2b_account_activity': ('Account activity', 'A business account you own is active this week.'),
    } -%}
    {%- set index = 0 if part == 'title' else 1 -%}
    case {{ scenario_col }}
        {%- for scenario_id, texts in copy.items() %}
        when '{{ scenario_id }}' then '{{ texts[index] | replace("'", "''") }}'
        {%- endfor %}
        else 'Kairos'
    end
{%- endmacro %}
